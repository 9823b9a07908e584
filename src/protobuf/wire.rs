//! The protobuf wire format: `util::protowire`'s reader, and the writers the encoder needs
//! (a nested message written in place, its length inserted after).

pub(crate) use crate::util::protowire::{put_varint, read_varint, Reader as Wire, WireValue as WireVal};

pub(crate) fn put_key(out: &mut Vec<u8>, tag: u64, wire_type: u64) {
    put_varint(out, tag << 3 | wire_type);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, tag: u64, b: &[u8]) {
    put_key(out, tag, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A length-delimited field whose body `f` writes in place: the body is written after the key,
/// then its length is inserted before it (one move of the body, no temporary buffer).
pub(crate) fn put_nested<E>(
    out: &mut Vec<u8>,
    tag: u64,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    put_key(out, tag, 2);
    let start = out.len();
    f(out)?;
    let len = (out.len() - start) as u64;
    let mut lb = [0u8; 10];
    let mut n = 0;
    let mut v = len;
    loop {
        if v < 0x80 {
            lb[n] = v as u8;
            n += 1;
            break;
        }
        lb[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out.splice(start..start, lb[..n].iter().copied());
    Ok(())
}
