//! Request bodies: streamed as they arrive, read whole only with the size limit.

use crate::error::{ApiError, ApiResult};
use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};

/// A request body as it arrives.
pub type BodyStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Read the body with the size limit: 413 beyond it, never an unbounded buffer.
pub async fn read_body<S, B, E>(body: &mut S, limit: usize) -> ApiResult<Bytes>
where
    S: Stream<Item = Result<B, E>> + Unpin + ?Sized,
    B: Buf,
    E: std::fmt::Display,
{
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::bad_request(format!("error reading request body: {e}")))?;
        if out.len() + chunk.remaining() > limit {
            return Err(ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {limit}"),
            ));
        }
        while chunk.has_remaining() {
            let c = chunk.chunk();
            out.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    Ok(Bytes::from(out))
}

/// A router body (any stream of `Buf`s) as a [`BodyStream`].
pub fn body_stream<S, B, E>(body: S) -> BodyStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: Buf,
    E: std::fmt::Display,
{
    Box::pin(body.map(|r| match r {
        Ok(mut b) => Ok(b.copy_to_bytes(b.remaining())),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }))
}
