//! The wire types of KMS v2: the plugin API (`k8s.io/kms/apis/v2/api.proto`, package `v2`,
//! service `KeyManagementService`) and the envelope stored in etcd
//! (`k8s.io/apiserver/.../kmsv2/v2/api.proto`, `EncryptedObject`). Written out with prost's
//! derive so the build needs no protoc; field numbers and types are upstream's.

use std::collections::BTreeMap;

/// The gRPC paths of the plugin service.
pub const STATUS_PATH: &str = "/v2.KeyManagementService/Status";
pub const ENCRYPT_PATH: &str = "/v2.KeyManagementService/Encrypt";
pub const DECRYPT_PATH: &str = "/v2.KeyManagementService/Decrypt";
/// The service name, for servers (the test plugin).
pub const SERVICE_NAME: &str = "v2.KeyManagementService";

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    /// `v2` (or `v2beta1`).
    #[prost(string, tag = "1")]
    pub version: String,
    /// `ok` when healthy.
    #[prost(string, tag = "2")]
    pub healthz: String,
    /// The key the plugin encrypts with now; a change makes the server generate a new DEK.
    #[prost(string, tag = "3")]
    pub key_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub key_id: String,
    #[prost(btree_map = "string, bytes", tag = "4")]
    pub annotations: BTreeMap<String, Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub uid: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(btree_map = "string, bytes", tag = "3")]
    pub annotations: BTreeMap<String, Vec<u8>>,
}

/// How the DEK source in an [`EncryptedObject`] is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DekSourceType {
    /// The DEK itself (written before 1.29's KDF).
    AesGcmKey = 0,
    /// A seed; each write derives its key with HKDF-SHA256 from a random 32-byte info.
    HkdfSha256XnonceAesGcmSeed = 1,
}

/// What follows `k8s:enc:kms:v2:<name>:` in etcd.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptedObject {
    #[prost(bytes = "vec", tag = "1")]
    pub encrypted_data: Vec<u8>,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "3")]
    pub encrypted_dek_source: Vec<u8>,
    #[prost(btree_map = "string, bytes", tag = "4")]
    pub annotations: BTreeMap<String, Vec<u8>>,
    #[prost(enumeration = "DekSourceType", tag = "5")]
    pub encrypted_dek_source_type: i32,
}
