//! Just enough SPDY/3.1 (server side) for the kubelet stand-in to serve kubectl's `exec`
//! (`v4.channel.k8s.io`) and `port-forward` (`portforward.k8s.io`): SYN_STREAM → SYN_REPLY,
//! PING echo, data frames; header blocks zlib-compressed with the SPDY/3 dictionary.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The SPDY/3 header-compression dictionary (spec data, 1423 bytes).
const DICTIONARY: &[u8] = include_bytes!("spdy_dictionary.bin");
const FLAG_FIN: u8 = 1;

/// Inflates header blocks: a raw inflater primed with the dictionary as a stored block (so
/// back-references reach it), fed the peer's zlib stream minus its header.
struct Inflater {
    z: Decompress,
    skip_header: bool,
}

impl Inflater {
    fn new() -> Inflater {
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

    fn inflate(&mut self, block: &[u8]) -> Vec<u8> {
        let mut input = block;
        if self.skip_header && input.len() >= 2 {
            let fdict = input[1] & 0x20 != 0;
            input = &input[if fdict { 6 } else { 2 }..];
            self.skip_header = false;
        }
        let mut out = Vec::new();
        loop {
            out.reserve(4096);
            let before = self.z.total_in();
            let _ = self.z.decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.z.total_in() - before) as usize;
            input = &input[used.min(input.len())..];
            if input.is_empty() || used == 0 {
                return out;
            }
        }
    }
}

fn parse_headers(raw: &[u8]) -> HashMap<String, String> {
    let mut h = HashMap::new();
    let u32_at = |i: usize| -> Option<usize> {
        raw.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let Some(n) = u32_at(0) else { return h };
    let mut i = 4;
    for _ in 0..n {
        let Some(kl) = u32_at(i) else { break };
        let k = String::from_utf8_lossy(raw.get(i + 4..i + 4 + kl).unwrap_or_default()).into_owned();
        i += 4 + kl;
        let Some(vl) = u32_at(i) else { break };
        let v = String::from_utf8_lossy(raw.get(i + 4..i + 4 + vl).unwrap_or_default()).into_owned();
        i += 4 + vl;
        h.insert(k, v);
    }
    h
}

/// Writes frames; owns the header compressor.
pub struct Writer<W> {
    w: W,
    z: Compress,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    async fn control(&mut self, ty: u16, flags: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut f = vec![0x80, 0x03];
        f.extend_from_slice(&ty.to_be_bytes());
        f.push(flags);
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        f.extend_from_slice(payload);
        self.w.write_all(&f).await?;
        self.w.flush().await
    }

    async fn syn_reply(&mut self, stream: u32) -> std::io::Result<()> {
        let mut block = Vec::with_capacity(64);
        let _ = self
            .z
            .compress_vec(&0u32.to_be_bytes(), &mut block, FlushCompress::Sync);
        let mut payload = stream.to_be_bytes().to_vec();
        payload.extend_from_slice(&block);
        self.control(2, 0, &payload).await
    }

    pub async fn data(&mut self, stream: u32, data: &[u8], fin: bool) -> std::io::Result<()> {
        let mut f = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
        f.push(if fin { FLAG_FIN } else { 0 });
        f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        f.extend_from_slice(data);
        self.w.write_all(&f).await?;
        self.w.flush().await
    }
}

/// What arrives on a connection.
pub enum Event {
    /// A new stream and its headers (already answered with SYN_REPLY).
    Stream(u32, HashMap<String, String>),
    Data(u32, Vec<u8>, bool),
}

/// One SPDY connection, server side: `next` yields events (answering SYN_STREAM and PING
/// itself); `w` writes data frames.
pub struct Conn<IO> {
    r: tokio::io::ReadHalf<IO>,
    pub w: Writer<tokio::io::WriteHalf<IO>>,
    inflater: Inflater,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    pub fn new(io: IO) -> Conn<IO> {
        let (r, w) = tokio::io::split(io);
        Conn {
            r,
            w: Writer {
                w,
                z: Compress::new(Compression::default(), true),
            },
            inflater: Inflater::new(),
        }
    }

    /// The next stream or data event; None when the connection ends.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let mut head = [0u8; 8];
            self.r.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
            let flags = head[4];
            let mut payload = vec![0u8; len];
            self.r.read_exact(&mut payload).await.ok()?;
            if head[0] & 0x80 == 0 {
                let id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
                return Some(Event::Data(id, payload, flags & FLAG_FIN != 0));
            }
            match u16::from_be_bytes([head[2], head[3]]) {
                1 if payload.len() >= 10 => {
                    let id = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
                    let headers = parse_headers(&self.inflater.inflate(&payload[10..]));
                    self.w.syn_reply(id).await.ok()?;
                    return Some(Event::Stream(id, headers));
                }
                6 => self.w.control(6, 0, &payload).await.ok()?,
                8 if payload.len() >= 4 => {
                    // HEADERS: keep the compression state in step.
                    let _ = self.inflater.inflate(&payload[4..]);
                }
                _ => {}
            }
        }
    }
}
