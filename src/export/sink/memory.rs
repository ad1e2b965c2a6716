//! An in-memory sink for tests of the run: it answers each batch as scripted — after a scripted
//! delay, so that with several in flight they complete out of order — and keeps what it
//! accepted, so a test can compare what was delivered with what the cursor says.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{Ack, Delivery, Sink, SinkError, SinkTarget};
use crate::error::Error;
use crate::export::batch::Batch;
use crate::verdict::{Check, Verdict};

/// How the sink answers one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Durable at once (like stdout or a webhook's 2xx).
    Durable,
    /// Durable when the run finishes (like the file sink).
    UntilFinish,
    /// The reader went away.
    Closed,
    /// A failure the run stops on.
    Fail,
}

/// The sink's configuration and what it received, shared with the test.
#[derive(Debug, Clone)]
pub struct MemoryTarget {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// Answers for the next batches, in order; then `otherwise`.
    script: VecDeque<Answer>,
    otherwise: Answer,
    /// How long the next deliveries take, in the order they start; then none.
    delays: VecDeque<Duration>,
    /// Deliveries that may be pending at once.
    in_flight: usize,
    /// Deliveries started and not yet complete, and the most there ever were.
    pending: usize,
    peak_pending: usize,
    /// Deliveries started.
    started: usize,
    /// NDJSON lines of every batch answered with `Durable` or `UntilFinish`, in the order
    /// they completed.
    accepted: Vec<String>,
    /// Whether `finish` ran.
    finished: bool,
    /// `finish` fails (the file sink's rename could not happen).
    fail_finish: bool,
}

impl MemoryTarget {
    /// A sink that answers every batch with `answer`.
    pub fn answering(answer: Answer) -> MemoryTarget {
        MemoryTarget {
            inner: Arc::new(Mutex::new(Inner {
                script: VecDeque::new(),
                otherwise: answer,
                delays: VecDeque::new(),
                in_flight: 1,
                pending: 0,
                peak_pending: 0,
                started: 0,
                accepted: Vec::new(),
                finished: false,
                fail_finish: false,
            })),
        }
    }

    /// Answers the next batches with `script`, then every further one with `otherwise`.
    pub fn scripted(script: &[Answer], otherwise: Answer) -> MemoryTarget {
        let target = MemoryTarget::answering(otherwise);
        target.inner().script = script.iter().copied().collect();
        target
    }

    /// Lets up to `n` deliveries be pending at once.
    pub fn in_flight(self, n: usize) -> MemoryTarget {
        self.inner().in_flight = n;
        self
    }

    /// The next deliveries take these times, in the order they start.
    pub fn delays(self, delays: &[Duration]) -> MemoryTarget {
        self.inner().delays = delays.iter().copied().collect();
        self
    }

    /// The most deliveries that were pending at once.
    pub fn peak_pending(&self) -> usize {
        self.inner().peak_pending
    }

    /// How many deliveries were started.
    pub fn started(&self) -> usize {
        self.inner().started
    }

    /// Deliveries started and not complete (dropped ones included).
    pub fn pending(&self) -> usize {
        self.inner().pending
    }

    pub fn fail_finish(&self) {
        self.inner().fail_finish = true;
    }

    /// The lines of every batch accepted, in order.
    pub fn accepted(&self) -> Vec<String> {
        self.inner().accepted.clone()
    }

    pub fn finished(&self) -> bool {
        self.inner().finished
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl SinkTarget for MemoryTarget {
    fn open(&self) -> Result<Box<dyn Sink>, Error> {
        Ok(Box::new(self.clone()))
    }

    async fn check(&self) -> Check {
        ("sink", Verdict::Ok("memory".into()))
    }
}

#[async_trait]
impl Sink for MemoryTarget {
    fn in_flight(&self) -> usize {
        self.inner().in_flight
    }

    fn send(&mut self, batch: Batch) -> Delivery {
        let (answer, delay) = {
            let mut inner = self.inner();
            inner.started += 1;
            inner.pending += 1;
            inner.peak_pending = inner.peak_pending.max(inner.pending);
            let answer = inner.script.pop_front().unwrap_or(inner.otherwise);
            (answer, inner.delays.pop_front().unwrap_or_default())
        };
        let target = self.clone();
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut inner = target.inner();
            inner.pending -= 1;
            let ack = match answer {
                Answer::Durable => Ack::Durable,
                Answer::UntilFinish => Ack::UntilFinish,
                Answer::Closed => return Err(SinkError::Closed),
                Answer::Fail => {
                    return Err(anyhow::anyhow!("the memory sink refused a batch").into());
                }
            };
            let lines = String::from_utf8_lossy(&batch.ndjson);
            inner.accepted.extend(lines.lines().map(str::to_owned));
            Ok(ack)
        })
    }

    async fn finish(self: Box<Self>) -> Result<(), SinkError> {
        let mut inner = self.inner();
        if inner.fail_finish {
            return Err(anyhow::anyhow!("the memory sink could not finish").into());
        }
        inner.finished = true;
        Ok(())
    }
}
