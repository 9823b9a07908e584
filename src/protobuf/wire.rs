//! The protobuf wire format: a reader over (field number, value) and a writer.

#[derive(Debug, Clone, Copy)]
pub(crate) enum WireVal<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Len(&'a [u8]),
}

/// Iterates (field number, value) over a message's bytes.
pub(crate) struct Wire<'a> {
    pub buf: &'a [u8],
    failed: bool,
}

impl<'a> Wire<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Wire { buf, failed: false }
    }

    pub fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err("unexpected end of protobuf data".into());
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("protobuf varint overflow".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err("unexpected end of protobuf data".into());
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    fn next_item(&mut self) -> Result<(u64, WireVal<'a>), String> {
        let key = self.varint()?;
        let tag = key >> 3;
        if tag == 0 {
            return Err("illegal protobuf field number 0".into());
        }
        let v = match key & 7 {
            0 => WireVal::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                WireVal::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "protobuf length overflow".to_string())?;
                WireVal::Len(self.take(n)?)
            }
            5 => {
                // No k8s field is fixed32/float; skip the value.
                self.take(4)?;
                WireVal::Fixed32
            }
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        Ok((tag, v))
    }
}

impl<'a> Iterator for Wire<'a> {
    type Item = Result<(u64, WireVal<'a>), String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let r = self.next_item();
        self.failed = r.is_err();
        Some(r)
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

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
pub(crate) fn put_nested<E>(out: &mut Vec<u8>, tag: u64, f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
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
