//! The webhook sink: each batch is one `POST {"followUps": [...]}` (see [`crate::wire`]),
//! acknowledged by a 2xx. Up to `--webhook-concurrency` batches are in flight at once, each
//! with its own retries and backoff. Transient failures are retried; a refusal stops the run,
//! keeping the refused batch in a dead-letter file for inspection.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};

use async_trait::async_trait;

use super::{Ack, Delivery, Sink, SinkError, SinkTarget};
use crate::error::Error;
use crate::export::batch::Batch;
use crate::export::retry::{Backoff, Decision, classify_error, classify_status};
use crate::redact;
use crate::wire;

/// The most of a refusal's response body quoted in the error message.
const QUOTED_BODY: usize = 500;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: url::Url,
    /// Shared secret for `X-Guardrail-Signature`.
    pub secret: Option<SecretString>,
    /// Bearer token for `Authorization`.
    pub token: Option<SecretString>,
    pub timeout: Duration,
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    pub gzip: bool,
    /// Where refused batches are kept.
    pub dead_letter_dir: PathBuf,
    pub backoff: Backoff,
    /// Batches in flight at once (at least 1).
    pub concurrency: usize,
}

#[async_trait]
impl SinkTarget for WebhookConfig {
    fn open(&self) -> Result<Box<dyn Sink>, Error> {
        Ok(Box::new(WebhookSink::new(self.clone())?))
    }

    /// POSTs an empty, signed batch: the gateway answers 422 (empty) once it has accepted the
    /// credentials, 401 when it has not. Any answer proves the endpoint reachable.
    async fn check(&self) -> crate::verdict::Check {
        use crate::verdict::Verdict;
        let url = redact::url(self.url.as_str());
        // The sink's own request — headers, signature, token — with a body never gzipped.
        let sink = match WebhookSink::new(WebhookConfig {
            gzip: false,
            ..self.clone()
        }) {
            Ok(sink) => sink,
            Err(e) => {
                return (
                    "webhook",
                    Verdict::problem(e.to_string(), "report this as a bug"),
                );
            }
        };
        let body = Bytes::from_static(br#"{"followUps":[]}"#);
        let verdict = match sink.post(&wire::idempotency_key(b""), body).await {
            Ok(response) if matches!(response.status().as_u16(), 401 | 403) => Verdict::problem(
                format!("{url} refused the credentials ({})", response.status()),
                "give the exporter the gateway's secret or token (--webhook-secret / --webhook-token)",
            ),
            Ok(response) => Verdict::Ok(format!(
                "{url} reachable (answered {} to an empty batch)",
                response.status()
            )),
            Err(e) => Verdict::problem(
                format!(
                    "{url} is unreachable: {}",
                    redact::error_chain(&e.without_url())
                ),
                "start the gateway, or correct --webhook-url / ANALYTICS_GUARDRAIL_WEBHOOK",
            ),
        };
        ("webhook", verdict)
    }
}

/// Cheap to clone: each delivery holds its own handle on the configuration and the client (whose
/// connection pool they share).
#[derive(Clone)]
pub struct WebhookSink {
    config: Arc<WebhookConfig>,
    client: reqwest::Client,
}

#[async_trait]
impl Sink for WebhookSink {
    fn in_flight(&self) -> usize {
        self.config.concurrency.max(1)
    }

    fn send(&mut self, batch: Batch) -> Delivery {
        let sink = self.clone();
        Box::pin(async move { sink.deliver(&batch).await })
    }
}

impl WebhookSink {
    /// Delivers one batch: POSTs it until a 2xx, a refusal or the last attempt.
    async fn deliver(&self, batch: &Batch) -> Result<Ack, SinkError> {
        let key = wire::idempotency_key(&batch.ndjson);
        let body = self.body(batch)?;
        let url = redact::url(self.config.url.as_str());
        let mut last_problem = String::new();
        for attempt in 1..=self.config.max_attempts {
            let decision = match self.post(&key, body.clone()).await {
                Ok(response) => {
                    let status = response.status();
                    let decision = classify_status(status, response.headers().get(RETRY_AFTER));
                    if decision == Decision::Delivered {
                        tracing::debug!(key, rows = batch.rows, attempt, "batch delivered");
                        return Ok(Ack::Durable);
                    }
                    let text = quoted_body(response).await;
                    last_problem = format!("answered {status}{text}");
                    if decision == Decision::Refused {
                        return Err(self.refused(batch, &key, &url, &last_problem));
                    }
                    decision
                }
                Err(error) => {
                    let decision = classify_error(&error);
                    last_problem = redact::error_chain(&error.without_url());
                    if decision == Decision::Refused {
                        return Err(anyhow::anyhow!(
                            "cannot send to the webhook {url}: {last_problem}"
                        )
                        .into());
                    }
                    decision
                }
            };
            let Decision::Retry { after } = decision else {
                unreachable!("delivered and refused returned above")
            };
            if attempt == self.config.max_attempts {
                break;
            }
            // A receiver's `Retry-After` may lengthen the wait, never shorten it below the
            // backoff (a date in the past or `0` would otherwise fire every attempt at once).
            let wait = self.config.backoff.wait(attempt - 1, after);
            tracing::warn!(
                key,
                attempt,
                "the webhook {url} {last_problem}; retrying in {:.1}s (attempt {}/{})",
                wait.as_secs_f64(),
                attempt + 1,
                self.config.max_attempts
            );
            tokio::time::sleep(wait).await;
        }
        Err(anyhow::anyhow!(
            "the webhook {url} did not accept batch {key} ({} rows) after {} attempts; last: {last_problem}. \
             The cursor stays before this batch; rerun once the receiver is healthy",
            batch.rows,
            self.config.max_attempts
        )
        .into())
    }

    fn new(config: WebhookConfig) -> anyhow::Result<WebhookSink> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("guardrail-followups/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookSink {
            config: Arc::new(config),
            client,
        })
    }

    /// `{"followUps":[…]}`, gzipped when configured.
    fn body(&self, batch: &Batch) -> anyhow::Result<Bytes> {
        let mut json = Vec::with_capacity(batch.ndjson.len() + 16);
        json.extend_from_slice(b"{\"followUps\":[");
        for (i, row) in batch.json_array_items().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(row);
        }
        json.extend_from_slice(b"]}");
        if !self.config.gzip {
            return Ok(json.into());
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&json)?;
        Ok(encoder.finish()?.into())
    }

    /// One POST of `body` with the batch headers (no retry).
    pub async fn post(&self, key: &str, body: Bytes) -> reqwest::Result<reqwest::Response> {
        let mut request = self
            .client
            .post(self.config.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(wire::IDEMPOTENCY_KEY, key);
        if self.config.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(secret) = &self.config.secret {
            let signed = wire::Signed {
                key,
                encoding: if self.config.gzip { "gzip" } else { "" },
                body: &body,
            };
            let signature = wire::sign(secret.expose_secret().as_bytes(), wire::unix_now(), signed);
            request = request.header(wire::SIGNATURE, signature);
        }
        if let Some(token) = &self.config.token {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose_secret()));
        }
        request.body(body).send().await
    }

    /// Keeps the refused batch in the dead-letter folder and explains the stop.
    fn refused(&self, batch: &Batch, key: &str, url: &str, problem: &str) -> SinkError {
        let path = self
            .config
            .dead_letter_dir
            .join(format!("guardrail-followups-refused-{key}.ndjson"));
        let kept = std::fs::create_dir_all(&self.config.dead_letter_dir).and_then(|()| {
            crate::fs::write_atomically(&path, &batch.ndjson, crate::fs::Readers::Owner)
        });
        let kept = match kept {
            Ok(()) => format!("the refused rows are in {}", path.display()),
            Err(e) => format!(
                "the refused rows could not be saved to {} ({e})",
                path.display()
            ),
        };
        let first = batch
            .first
            .map(|p| format!(" from {}", p.created_at))
            .unwrap_or_default();
        SinkError::Failed(anyhow::anyhow!(
            "the webhook {url} refused batch {key} ({} rows{first}): it {problem}. \
             Nothing was skipped: the cursor stays before this batch and {kept}. \
             Fix the receiver's configuration or the rows, then rerun",
            batch.rows
        ))
    }
}

/// `: <first bytes of the body>` for messages, or nothing when the body is empty.
async fn quoted_body(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut end = text.len().min(QUOTED_BODY);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(": {}", &text[..end])
}
