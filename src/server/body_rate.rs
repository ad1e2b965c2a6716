//! A minimum rate for request bodies: a body that arrives slower than
//! [`Limits::min_body_rate`](crate::server::Limits) bytes a second, once a grace period is over,
//! fails with [`BodyTooSlow`], so a client trickling a body cannot hold its connection and
//! whatever the handler reserved for it (Envoy's and nginx's answer to slow-body attacks).
//! Written here because tower-http's timeouts bound a body's total time or the gap between
//! frames, not its rate: a client sending one byte every few seconds passes both.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The body arrived slower than the minimum rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the request body arrived slower than {rate} bytes a second (after {grace} s); \
     send it faster or in smaller batches"
)]
pub struct BodyTooSlow {
    pub rate: u64,
    pub grace: u64,
}

impl BodyTooSlow {
    /// Whether `error`, or an error it wraps, is a too-slow body.
    pub fn is_cause_of(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(error) = next {
            if error.is::<BodyTooSlow>() {
                return true;
            }
            next = error.source();
        }
        false
    }
}

/// The minimum: `rate` bytes a second on average, counted from `grace` after the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    pub rate: u64,
    pub grace: Duration,
}

/// `inner`, failing once it falls behind its [`MinRate`].
pub struct RateLimited<B> {
    inner: B,
    min: MinRate,
    started: Instant,
    received: u64,
    deadline: Pin<Box<Sleep>>,
    failed: bool,
    on_too_slow: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl<B> RateLimited<B> {
    pub fn new(inner: B, min: MinRate) -> RateLimited<B> {
        let started = Instant::now();
        RateLimited {
            inner,
            min,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + min.grace)),
            failed: false,
            on_too_slow: None,
        }
    }

    /// Calls `report` when the body fails for being too slow (to count it).
    pub fn on_too_slow(mut self, report: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.on_too_slow = Some(Box::new(report));
        self
    }

    /// When the bytes received so far stop being enough: `received` must keep up with
    /// `rate × (elapsed − grace)`.
    fn next_deadline(&self) -> Instant {
        let ahead = Duration::from_secs_f64(self.received as f64 / self.min.rate.max(1) as f64);
        self.started + self.min.grace + ahead
    }
}

impl<B> Body for RateLimited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let next = this.next_deadline();
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.min.rate > 0 && this.deadline.as_mut().poll(cx).is_ready() {
                    this.failed = true;
                    if let Some(report) = this.on_too_slow.take() {
                        report();
                    }
                    return Poll::Ready(Some(Err(Box::new(BodyTooSlow {
                        rate: this.min.rate,
                        grace: this.min.grace.as_secs(),
                    }))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    type Chunks = StreamBody<tokio_stream_like::Receiver>;

    /// A body fed chunk by chunk by the test.
    mod tokio_stream_like {
        use super::*;
        use std::convert::Infallible;

        pub struct Receiver(pub mpsc::Receiver<Bytes>);

        impl futures_util::Stream for Receiver {
            type Item = Result<Frame<Bytes>, Infallible>;

            fn poll_next(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn body(min: MinRate) -> (mpsc::Sender<Bytes>, RateLimited<Chunks>) {
        let (send, receive) = mpsc::channel(16);
        let body = StreamBody::new(tokio_stream_like::Receiver(receive));
        (send, RateLimited::new(body, min))
    }

    const MIN: MinRate = MinRate {
        rate: 1000,
        grace: Duration::from_secs(5),
    };

    #[tokio::test(start_paused = true)]
    async fn a_body_that_sends_nothing_fails_when_the_grace_is_over() {
        let started = Instant::now();
        let (_send, body) = body(MIN);
        let error = body.collect().await.unwrap_err();
        assert!(BodyTooSlow::is_cause_of(error.as_ref()), "{error}");
        assert_eq!(started.elapsed(), MIN.grace);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_below_the_rate_fails_and_a_body_at_the_rate_arrives_whole() {
        let (send, slow) = body(MIN);
        let feeder = tokio::spawn(async move {
            // 100 bytes a second: ahead during the grace, behind soon after.
            for _ in 0..60 {
                if send.send(Bytes::from(vec![b'x'; 100])).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = Instant::now();
        let error = slow.collect().await.unwrap_err();
        assert!(BodyTooSlow::is_cause_of(error.as_ref()), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{:?}",
            started.elapsed()
        );
        feeder.abort();

        let (send, steady) = body(MIN);
        tokio::spawn(async move {
            for _ in 0..30 {
                send.send(Bytes::from(vec![b'x'; 1200])).await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let bytes = steady.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 30 * 1200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_rate_is_no_minimum() {
        let (send, body) = body(MinRate {
            rate: 0,
            grace: Duration::ZERO,
        });
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            send.send(Bytes::from_static(b"late")).await.unwrap();
        });
        assert_eq!(body.collect().await.unwrap().to_bytes(), "late");
    }
}
