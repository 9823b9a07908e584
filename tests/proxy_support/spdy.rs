//! The server side of SPDY/3.1 for the kubelet stand-in, on the framing the API server uses
//! (`capstan::proxy::spdy`): SYN_STREAM answered with SYN_REPLY, PINGs echoed, data frames
//! written through a shared writer so several tasks can stream at once.

use capstan::proxy::spdy::{self, Frame};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::Mutex;

/// Writes frames; owns the header compressor.
pub struct Writer<W> {
    w: W,
    deflater: spdy::Deflater,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    async fn raw(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.w.write_all(frame).await?;
        self.w.flush().await
    }

    pub async fn data(&mut self, stream: u32, data: &[u8], fin: bool) -> std::io::Result<()> {
        self.raw(&spdy::data_frame(stream, data, fin)).await
    }

    /// GOAWAY, then the end of our half of the connection (the peer closes the rest).
    pub async fn close(&mut self) {
        let _ = self.raw(&spdy::goaway_frame(0)).await;
        let _ = self.w.shutdown().await;
    }
}

pub type SharedWriter<IO> = Arc<Mutex<Writer<WriteHalf<IO>>>>;

/// What arrives on a connection.
pub enum Event {
    /// A new stream and its `streamtype` (already answered with SYN_REPLY).
    Stream(u32, Vec<(String, String)>),
    Data(u32, Vec<u8>, bool),
    Reset(u32),
}

/// One SPDY connection, server side.
pub struct Conn<IO> {
    r: ReadHalf<IO>,
    pub w: SharedWriter<IO>,
    inflater: spdy::Inflater,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    pub fn new(io: IO) -> Conn<IO> {
        let (r, w) = tokio::io::split(io);
        Conn {
            r,
            w: Arc::new(Mutex::new(Writer {
                w,
                deflater: spdy::Deflater::default(),
            })),
            inflater: spdy::Inflater::default(),
        }
    }

    /// The next stream, data or reset event; None when the connection ends.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match spdy::read_frame(&mut self.r).await.ok()?? {
                Frame::Data { stream, fin, data } => return Some(Event::Data(stream, data, fin)),
                Frame::Control { kind, payload, .. } => match kind {
                    spdy::SYN_STREAM => {
                        let id = spdy::stream_of(&payload)?;
                        let headers = self.inflater.syn_stream_headers(&payload).ok()?;
                        let mut w = self.w.lock().await;
                        let reply = w.deflater.syn_reply(id, &[]);
                        w.raw(&reply).await.ok()?;
                        return Some(Event::Stream(id, headers));
                    }
                    spdy::RST_STREAM => return Some(Event::Reset(spdy::stream_of(&payload)?)),
                    spdy::PING => self
                        .w
                        .lock()
                        .await
                        .raw(&spdy::control_frame(spdy::PING, 0, &payload))
                        .await
                        .ok()?,
                    spdy::HEADERS => self.inflater.skip_block(&payload).ok()?,
                    _ => {}
                },
            }
        }
    }
}
