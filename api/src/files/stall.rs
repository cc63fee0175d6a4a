//! An upload's body that may not stall: when the client sends nothing for
//! `limit` while the upload waits for it, reading fails (and the upload
//! answers 400, aborting what it began). Only time spent waiting on the
//! client counts: a long upload that keeps sending is never cut, however
//! long it runs, and time the server spends elsewhere (sending a part to
//! the object storage) is not held against the client. (tower-http's
//! `TimeoutBody` counts from the last piece, including the server's own
//! time, so it would blame the client for a slow object storage.)

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

/// Why an upload's body ended early.
#[derive(Debug, thiserror::Error)]
#[error("the client sent nothing for {} s", .0.as_secs())]
pub struct BodyStalled(Duration);

/// `inner`, failing once a read has waited `limit` for the client.
#[derive(Debug)]
pub struct StallLimitedBody {
    inner: Body,
    limit: Duration,
    /// Running while a read waits for the client.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl StallLimitedBody {
    /// Wraps `inner`.
    pub fn new(inner: Body, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            waiting: None,
        }
    }
}

impl http_body::Body for StallLimitedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            return Poll::Ready(frame);
        }
        let limit = this.limit;
        let waiting = this
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(waiting.as_mut().poll(cx));
        Poll::Ready(Some(Err(axum::Error::new(BodyStalled(limit)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
