//! A request whose body the handler left unread is answered with
//! `Connection: close`.
//!
//! hyper cannot keep such a connection: the rest of the body is still on
//! its way, so it stops reading and closes the connection once the answer
//! is out, but it does not say so in the answer. A client that pools its
//! connections (Python's `requests`, contaxy's client) then sends its next
//! request on a connection the server is closing, and on a busy machine
//! the close arrives after the request: "Remote end closed connection
//! without response". With the header the client knows not to reuse it.
//! The usual case is an early answer to a request with a body: a 404, a
//! 401, a 413.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

/// Set once a request's body has been read to its end (or had none).
#[derive(Debug, Clone)]
pub struct ReadToEnd(Arc<AtomicBool>);

impl ReadToEnd {
    /// Whether the body was read to its end.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `inner`, noting in [`ReadToEnd`] when it has been read to its end.
#[derive(Debug)]
pub struct Watched<B> {
    inner: B,
    read: ReadToEnd,
}

impl<B: Body> Watched<B> {
    /// Wraps `inner`; the flag starts set for a body that is empty.
    pub fn new(inner: B) -> (Self, ReadToEnd) {
        let read = ReadToEnd(Arc::new(AtomicBool::new(inner.is_end_stream())));
        (
            Self {
                inner,
                read: read.clone(),
            },
            read,
        )
    }
}

impl<B: Body + Unpin> Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.0.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
