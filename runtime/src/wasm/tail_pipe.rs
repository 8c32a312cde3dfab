//! A guest's captured stderr: keeps only the last few KiB and never refuses a write.
//!
//! wasmtime-wasi's `MemoryOutputPipe` fails writes once full, which would make a chatty guest's
//! `eprintln!` panic; here the oldest bytes are dropped instead. The tail is what a failed call
//! reports as failure_data (a Rust guest's panic message).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Bytes of stderr kept per instance.
pub const TAIL_BYTES: usize = 4096;

#[derive(Clone, Default)]
pub struct TailPipe(Arc<Mutex<VecDeque<u8>>>);

impl TailPipe {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let excess = (buf.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        buf.drain(..excess);
        buf.extend(bytes);
    }

    pub fn contents(&self) -> Vec<u8> {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        buf.iter().copied().collect()
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for TailPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail_and_never_refuses() {
        let mut p = TailPipe::default();
        for i in 0..10_000u32 {
            OutputStream::write(&mut p, Bytes::from(format!("line {i}\n"))).unwrap();
        }
        let text = String::from_utf8(p.contents()).unwrap();
        assert!(text.len() <= TAIL_BYTES);
        assert!(text.ends_with("line 9999\n"));
        p.push(&vec![b'x'; 3 * TAIL_BYTES]);
        assert_eq!(p.contents(), vec![b'x'; TAIL_BYTES]);
    }
}
