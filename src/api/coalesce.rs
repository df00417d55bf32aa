//! A connection wrapper that sends each answer in one write instead of two.
//!
//! HTTP/2 (the `h2` crate under tonic) writes a frame whose payload is over a threshold as a
//! separate buffer, and must send it before it can queue the next frame. On a connection that
//! reports vectored writes the threshold is 256 bytes, so every unary answer whose message is
//! over 256 bytes — an inclusion or consistency proof, an append's receipt — costs two
//! `writev`s, the second carrying only the 10-byte trailers (`grpc-status`), and reaches the
//! client as two TCP segments. On loopback each send also runs the receiver's side of TCP: the
//! two writes together were a quarter of the server's CPU samples while it answered proofs.
//!
//! [`Coalesced`] reports non-vectored writes, which raises `h2`'s threshold to 1 KiB (a proof of
//! a tree of up to 2^29 leaves fits under it), and buffers what it is given until the next
//! flush, so that a payload `h2` still sends apart is copied beside the frames around it and
//! goes out with them. Nothing is held back: every `poll_flush` writes the whole buffer to the
//! connection before it returns ready, and both HTTP/2 and HTTP/1.1 flush after each batch of
//! frames or each response.
//!
//! Invariant: bytes are written to the inner connection in the order they were given, and a
//! write that is at least the buffer's capacity goes straight through after what is buffered.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tonic::transport::server::Connected;

/// Bytes buffered per connection before a write goes out without waiting for the flush.
const BUFFER_BYTES: usize = 8 * 1024;

/// A connection whose writes are buffered until flushed; see the module docs.
#[derive(Debug)]
pub struct Coalesced<T> {
    inner: BufWriter<T>,
}

impl<T: AsyncWrite> Coalesced<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Coalesced {
            inner: BufWriter::with_capacity(BUFFER_BYTES, inner),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Coalesced<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesced<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// False on purpose: it is what raises `h2`'s threshold for sending a payload apart.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl<T: Connected + AsyncWrite> Connected for Coalesced<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.get_ref().connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Counts the writes that reach it, keeping their bytes.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        flushes: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn small_writes_go_out_together_at_the_flush_in_order() {
        let mut c = Coalesced::new(Recorder::default());
        c.write_all(b"headers+").await.unwrap();
        c.write_all(&[7u8; 700]).await.unwrap();
        c.write_all(b"+trailers").await.unwrap();
        assert!(
            c.inner.get_ref().writes.is_empty(),
            "nothing before the flush"
        );
        c.flush().await.unwrap();
        let rec = c.inner.get_ref();
        assert_eq!(rec.writes.len(), 1);
        let mut expected = b"headers+".to_vec();
        expected.extend([7u8; 700]);
        expected.extend(b"+trailers");
        assert_eq!(rec.writes[0], expected);
        assert_eq!(rec.flushes, 1);
        assert!(!c.is_write_vectored());
    }

    #[tokio::test]
    async fn a_large_write_follows_what_is_buffered() {
        let mut c = Coalesced::new(Recorder::default());
        c.write_all(b"head").await.unwrap();
        let big = vec![1u8; BUFFER_BYTES + 1];
        c.write_all(&big).await.unwrap();
        c.flush().await.unwrap();
        let all: Vec<u8> = c.inner.get_ref().writes.concat();
        assert_eq!(&all[..4], b"head");
        assert_eq!(&all[4..], &big[..]);
    }

    #[tokio::test]
    async fn reads_pass_through_and_answers_arrive_once_flushed() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let mut server = Coalesced::new(a);
        let mut client = b;
        client.write_all(b"ask").await.unwrap();
        let mut got = [0u8; 3];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ask");
        server.write_all(b"answer").await.unwrap();
        server.flush().await.unwrap();
        let mut answer = [0u8; 6];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"answer");
    }
}
