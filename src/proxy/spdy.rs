//! SPDY/3.1 framing, as kubelets speak it for `exec`, `attach` and `portforward` (the Go
//! implementation both ends of Kubernetes use, moby/spdystream): frames, header blocks
//! (zlib with the SPDY/3 dictionary), and builders for the frames a client or server sends.
//! Flow control is not enforced by spdystream, so WINDOW_UPDATE and SETTINGS are read and ignored.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The SPDY/3 header-compression dictionary (spec data, 1423 bytes).
const DICTIONARY: &[u8] = include_bytes!("spdy_dictionary.bin");

pub const FLAG_FIN: u8 = 1;
pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;
pub const HEADERS: u16 = 8;

/// Largest header block we inflate: header blocks name a handful of short headers.
const MAX_HEADER_BLOCK: usize = 256 << 10;
/// Largest data payload we send in one frame (spdystream reads any size up to 2^24-1).
pub const MAX_DATA: usize = 32 << 10;

/// One frame as read from the wire.
#[derive(Debug)]
pub enum Frame {
    Data { stream: u32, fin: bool, data: Vec<u8> },
    Control { kind: u16, flags: u8, payload: Vec<u8> },
}

/// The next frame; `None` at a clean end of the connection between frames. The 24-bit length
/// field bounds every frame at 16 MiB.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut head[1..]).await?;
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    let flags = head[4];
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    if head[0] & 0x80 == 0 {
        let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
        return Ok(Some(Frame::Data {
            stream,
            fin: flags & FLAG_FIN != 0,
            data: payload,
        }));
    }
    let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
    if version != 3 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unsupported SPDY version {version}"),
        ));
    }
    Ok(Some(Frame::Control {
        kind: u16::from_be_bytes([head[2], head[3]]),
        flags,
        payload,
    }))
}

/// The stream id at the start of a control frame's payload (SYN_STREAM, SYN_REPLY,
/// RST_STREAM, HEADERS, WINDOW_UPDATE).
pub fn stream_of(payload: &[u8]) -> Option<u32> {
    let b = payload.get(..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff)
}

/// A data frame (split by the caller into at most [`MAX_DATA`] bytes).
pub fn data_frame(stream: u32, data: &[u8], fin: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(data);
    f
}

/// A control frame of SPDY version 3.
pub fn control_frame(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&[0x80, 0x03]);
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

pub fn ping_frame(id: u32) -> Vec<u8> {
    control_frame(PING, 0, &id.to_be_bytes())
}

/// GOAWAY with status OK, naming the last stream the peer opened that we handled.
pub fn goaway_frame(last_good: u32) -> Vec<u8> {
    let mut p = (last_good & 0x7fff_ffff).to_be_bytes().to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    control_frame(GOAWAY, 0, &p)
}

/// The header-block compressor of one connection (one zlib stream across all frames, flushed
/// per block). It never refers to the dictionary, so its blocks need no dictionary id: Go's
/// zlib reader, given a dictionary, accepts a stream that does not announce one.
pub struct Deflater(Compress);

impl Default for Deflater {
    fn default() -> Self {
        Deflater(Compress::new(Compression::default(), true))
    }
}

impl Deflater {
    fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (k, v) in headers {
            for s in [k.to_ascii_lowercase().as_str(), v] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(256);
            let before = self.0.total_in();
            let _ = self.0.compress_vec(input, &mut out, FlushCompress::Sync);
            let used = (self.0.total_in() - before) as usize;
            input = &input[used.min(input.len())..];
            // A sync flush is complete when all input is taken and there was room to spare.
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    /// SYN_STREAM opening `stream` (priority 0, no association).
    pub fn syn_stream(&mut self, stream: u32, headers: &[(&str, &str)], fin: bool) -> Vec<u8> {
        let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&self.block(headers));
        control_frame(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &p)
    }

    /// SYN_REPLY accepting `stream`.
    pub fn syn_reply(&mut self, stream: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
        p.extend_from_slice(&self.block(headers));
        control_frame(SYN_REPLY, 0, &p)
    }
}

/// The header-block decompressor of one connection: a raw inflater primed with the dictionary
/// as a stored block (so back-references reach it), fed the peer's zlib stream minus its header.
pub struct Inflater {
    z: Decompress,
    skip_header: bool,
}

impl Default for Inflater {
    fn default() -> Self {
        let mut z = Decompress::new(false);
        let n = DICTIONARY.len() as u16;
        let mut primer = vec![0u8];
        primer.extend_from_slice(&n.to_le_bytes());
        primer.extend_from_slice(&(!n).to_le_bytes());
        primer.extend_from_slice(DICTIONARY);
        let mut sink = Vec::with_capacity(DICTIONARY.len() + 16);
        let _ = z.decompress_vec(&primer, &mut sink, FlushDecompress::Sync);
        Inflater { z, skip_header: true }
    }
}

impl Inflater {
    fn inflate(&mut self, block: &[u8]) -> std::io::Result<Vec<u8>> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("SPDY header block: {m}"));
        let mut input = block;
        if self.skip_header {
            if input.len() < 2 {
                return Err(bad("short zlib header"));
            }
            let fdict = input[1] & 0x20 != 0;
            input = input
                .get(if fdict { 6 } else { 2 }..)
                .ok_or_else(|| bad("short zlib header"))?;
            self.skip_header = false;
        }
        let mut out = Vec::new();
        loop {
            if out.len() > MAX_HEADER_BLOCK {
                return Err(bad("too large"));
            }
            out.reserve(4096);
            let before = self.z.total_in();
            self.z
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .map_err(|e| bad(&e.to_string()))?;
            let used = (self.z.total_in() - before) as usize;
            input = &input[used.min(input.len())..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if used == 0 && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// The headers of a SYN_STREAM payload (names lower-case, as SPDY sends them).
    pub fn syn_stream_headers(&mut self, payload: &[u8]) -> std::io::Result<Vec<(String, String)>> {
        let block = payload.get(10..).unwrap_or_default();
        Ok(parse_headers(&self.inflate(block)?))
    }

    /// Keep the compression state in step with a SYN_REPLY or HEADERS block (its headers unused).
    pub fn skip_block(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.inflate(payload.get(4..).unwrap_or_default()).map(|_| ())
    }
}

fn parse_headers(raw: &[u8]) -> Vec<(String, String)> {
    let u32_at = |i: usize| -> Option<usize> {
        raw.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut h = Vec::new();
    let Some(n) = u32_at(0) else { return h };
    let mut i = 4;
    for _ in 0..n.min(1024) {
        let Some(kl) = u32_at(i) else { break };
        let Some(k) = raw.get(i + 4..i + 4 + kl) else { break };
        i += 4 + kl;
        let Some(vl) = u32_at(i) else { break };
        let Some(v) = raw.get(i + 4..i + 4 + vl) else { break };
        i += 4 + vl;
        h.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    }
    h
}

/// The value of header `name` (lower-case) in a parsed block.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block compressed the way Go's spdy framer does it: zlib with the dictionary, FDICT set.
    fn go_style_block(headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (k, v) in headers {
            for s in [*k, *v] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        // Stored (uncompressed) deflate blocks after a dictionary header: valid zlib with FDICT.
        let mut out = vec![0x78, 0xbb];
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.push(0);
        let n = raw.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(&raw);
        out
    }

    #[test]
    fn header_blocks_round_trip_through_both_directions() {
        let mut d = Deflater::default();
        let mut i = Inflater::default();
        for n in 1..4u32 {
            let f = d.syn_stream(n * 2 - 1, &[("StreamType", "stdout"), ("port", "8080")], false);
            assert_eq!(&f[..4], &[0x80, 3, 0, 1]);
            let h = i.syn_stream_headers(&f[8..]).expect("inflate");
            assert_eq!(header(&h, "streamtype"), Some("stdout"));
            assert_eq!(header(&h, "port"), Some("8080"));
            assert_eq!(stream_of(&f[8..]), Some(n * 2 - 1));
        }
        let mut fresh = Inflater::default();
        let mut payload = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        payload.extend_from_slice(&go_style_block(&[("streamtype", "error")]));
        let h = fresh.syn_stream_headers(&payload).expect("inflate");
        assert_eq!(header(&h, "streamtype"), Some("error"));
    }

    #[tokio::test]
    async fn frames_parse_and_bad_versions_are_refused() {
        let mut wire = data_frame(5, b"abc", true);
        wire.extend_from_slice(&ping_frame(7));
        wire.extend_from_slice(&goaway_frame(3));
        let mut r = &wire[..];
        match read_frame(&mut r).await.expect("read") {
            Some(Frame::Data { stream, fin, data }) => assert_eq!((stream, fin, &data[..]), (5, true, &b"abc"[..])),
            f => panic!("{f:?}"),
        }
        match read_frame(&mut r).await.expect("read") {
            Some(Frame::Control { kind, payload, .. }) => assert_eq!((kind, payload), (PING, vec![0, 0, 0, 7])),
            f => panic!("{f:?}"),
        }
        assert!(matches!(
            read_frame(&mut r).await,
            Ok(Some(Frame::Control { kind: GOAWAY, .. }))
        ));
        assert!(matches!(read_frame(&mut r).await, Ok(None)));
        let mut v2 = control_frame(PING, 0, &[0, 0, 0, 1]);
        v2[1] = 2;
        assert!(read_frame(&mut &v2[..]).await.is_err());
    }
}
