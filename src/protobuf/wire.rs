//! The protobuf wire format, from `util::protowire`: its reader, and the buffer writers the
//! encoder uses (a nested message written in place, its length inserted after).

pub(crate) use crate::util::protowire::{
    put_bytes, put_key, put_nested, put_varint, read_varint, Reader as Wire, WireValue as WireVal,
};
