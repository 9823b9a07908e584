//! The protobuf wire format: varints, field keys and length-delimited values, written with
//! [`Writer`] and read with [`Reader`]. Messages themselves (which field is what) belong to
//! their users: the Kubernetes protobuf codec, the TokenRequest body, gnostic OpenAPI v2.
//!
//! ```
//! use capstan::util::protowire::{Reader, WireValue, Writer};
//! let mut inner = Writer::default();
//! inner.string(1, "x");
//! let mut w = Writer::default();
//! w.uint(1, 300).msg(2, inner);
//! let fields: Vec<_> = Reader::new(w.as_bytes()).collect::<Result<_, _>>().unwrap();
//! assert!(matches!(fields[0], (1, WireValue::Varint(300))));
//! assert!(matches!(fields[1], (2, WireValue::Len(b"\x0a\x01x"))));
//! ```

/// Wire type 0: a varint.
pub const VARINT: u8 = 0;
/// Wire type 1: eight little-endian bytes.
pub const FIXED64: u8 = 1;
/// Wire type 2: a length, then that many bytes.
pub const LEN: u8 = 2;
/// Wire type 5: four little-endian bytes.
pub const FIXED32: u8 = 5;

/// Append `v` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    let (b, n) = varint_bytes(v);
    out.extend_from_slice(&b[..n]);
}

/// `v` as a base-128 varint: the bytes, and how many of them it takes.
fn varint_bytes(mut v: u64) -> ([u8; 10], usize) {
    let (mut b, mut n) = ([0u8; 10], 0);
    while v >= 0x80 {
        b[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    b[n] = v as u8;
    (b, n + 1)
}

/// Append a field's key: its number and wire type.
pub fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u8) {
    put_varint(out, (field << 3) | u64::from(wire_type));
}

/// Append a length-delimited field.
pub fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Append a length-delimited field whose body `f` writes in place: the body is written after
/// the key, then its length is inserted before it (one move of the body, no temporary buffer).
pub fn put_nested<E>(out: &mut Vec<u8>, field: u64, f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    put_key(out, field, LEN);
    let start = out.len();
    f(out)?;
    let (b, n) = varint_bytes((out.len() - start) as u64);
    out.splice(start..start, b[..n].iter().copied());
    Ok(())
}

/// Read a varint from the front of `buf`, advancing it (packed repeated fields are a run of
/// these).
pub fn read_varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let Some((&b, rest)) = buf.split_first() else {
            return Err("unexpected end of protobuf data".into());
        };
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("protobuf varint overflow".into())
}

/// A message being written, field by field.
#[derive(Debug, Default, Clone)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// A field's key: its number and wire type.
    pub fn key(&mut self, field: u32, wire_type: u8) -> &mut Self {
        put_key(&mut self.0, u64::from(field), wire_type);
        self
    }

    /// A varint field (`int32`/`int64`/`uint64`/enums; negative values as two's complement).
    pub fn uint(&mut self, field: u32, v: u64) -> &mut Self {
        self.key(field, VARINT);
        put_varint(&mut self.0, v);
        self
    }

    pub fn bool(&mut self, field: u32, b: bool) -> &mut Self {
        self.uint(field, u64::from(b))
    }

    /// A length-delimited field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        put_bytes(&mut self.0, u64::from(field), b);
        self
    }

    pub fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    /// An embedded message.
    pub fn msg(&mut self, field: u32, m: Writer) -> &mut Self {
        self.bytes(field, &m.0)
    }

    /// Another message's fields, appended as they are (they become this message's fields).
    pub fn append(&mut self, m: &Writer) -> &mut Self {
        self.0.extend_from_slice(&m.0);
        self
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A field's value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

/// The fields of a message, in order, as (field number, value); after an error it ends.
pub struct Reader<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, failed: false }
    }

    fn varint(&mut self) -> Result<u64, String> {
        read_varint(&mut self.buf)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err("unexpected end of protobuf data".into());
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    fn next_field(&mut self) -> Result<(u64, WireValue<'a>), String> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err("illegal protobuf field number 0".into());
        }
        let v = match (key & 7) as u8 {
            VARINT => WireValue::Varint(self.varint()?),
            FIXED64 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(self.take(8)?);
                WireValue::Fixed64(u64::from_le_bytes(a))
            }
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| "protobuf length overflow".to_string())?;
                WireValue::Len(self.take(n)?)
            }
            FIXED32 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(self.take(4)?);
                WireValue::Fixed32(u32::from_le_bytes(a))
            }
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        Ok((field, v))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u64, WireValue<'a>), String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let r = self.next_field();
        self.failed = r.is_err();
        Some(r)
    }
}

/// All the fields of a message, or the first error.
pub fn fields(buf: &[u8]) -> Result<Vec<(u64, WireValue<'_>)>, String> {
    Reader::new(buf).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut w = Writer::default();
        w.uint(1, 150)
            .bool(2, true)
            .string(3, "hi")
            .uint(4, u64::MAX)
            .key(5, FIXED32);
        let mut b = w.into_bytes();
        // The first field is the classic example: 08 96 01.
        assert_eq!(&b[..3], &[0x08, 0x96, 0x01]);
        b.extend_from_slice(&7u32.to_le_bytes());
        let got: Result<Vec<_>, _> = Reader::new(&b).collect();
        assert_eq!(
            got.unwrap(),
            vec![
                (1, WireValue::Varint(150)),
                (2, WireValue::Varint(1)),
                (3, WireValue::Len(b"hi")),
                (4, WireValue::Varint(u64::MAX)),
                (5, WireValue::Fixed32(7)),
            ]
        );
    }

    #[test]
    fn nested_in_place() {
        for len in [0usize, 5, 127, 128, 300, 20_000] {
            let body = vec![7u8; len];
            let mut out = vec![0xff];
            put_nested(&mut out, 3, |o| {
                o.extend_from_slice(&body);
                Ok::<(), ()>(())
            })
            .unwrap();
            let mut want = vec![0xff];
            put_bytes(&mut want, 3, &body);
            assert_eq!(out, want, "len {len}");
        }
        let mut out = Vec::new();
        assert_eq!(put_nested(&mut out, 1, |_| Err("stop")), Err("stop"));
    }

    #[test]
    fn errors() {
        let errs = |b: &[u8]| Reader::new(b).find_map(Result::err);
        assert_eq!(
            errs(&[0x0a, 0x05, b'a']).as_deref(),
            Some("unexpected end of protobuf data")
        );
        assert_eq!(errs(&[0x00]).as_deref(), Some("illegal protobuf field number 0"));
        assert_eq!(errs(&[0x0b]).as_deref(), Some("unsupported protobuf wire type 3"));
        assert_eq!(
            errs(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).as_deref(),
            Some("protobuf varint overflow")
        );
    }
}
