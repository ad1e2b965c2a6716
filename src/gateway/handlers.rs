//! The gateway's endpoints: `POST /v1/followups`, `GET /healthz`, `GET /metrics`.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;

use crate::gateway::body::{self, Encoding};
use crate::gateway::error::ApiError;
use crate::gateway::lake::{Lake, Put, PutError};
use crate::gateway::{GatewayState, batch, metrics};
use crate::server::proxy::Peer;
use crate::wire;

/// The answer to a stored batch.
#[derive(Debug, Serialize)]
pub struct Stored {
    /// The object's key relative to the lake (`guardrail_followups/dt=…/<key>.ndjson`).
    pub stored: String,
    pub rows: usize,
}

/// `POST /v1/followups`: validates a batch and answers 200 once it is durable in the lake.
pub async fn ingest(
    State(state): State<Arc<GatewayState>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // Without a peer (a router served without `ConnectInfo`) every request is one client.
    let client = state
        .trusted_proxies
        .client(peer, &headers)
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let (response, outcome) = match store_batch(&state, client, &headers, body).await {
        Ok(stored) => ((StatusCode::OK, Json(stored)).into_response(), "stored"),
        Err(error) => {
            let key = headers
                .get(wire::IDEMPOTENCY_KEY)
                .and_then(|v| v.to_str().ok());
            error.log(key);
            let outcome = error.outcome();
            (error.into_response(), outcome)
        }
    };
    state
        .metrics
        .request(outcome, response.status().as_u16(), started.elapsed());
    response
}

/// The checks in order, the cheap ones before a byte of the body is read: the bearer token,
/// the idempotency key, the signature header's form and age, the content type and encoding;
/// then a share of the bytes the gateway reads at once, the client's own first; then the body
/// and its signature; then every row, and that the key is the rows' own; then the write, which
/// never replaces different content.
async fn store_batch(
    state: &GatewayState,
    client: IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Stored, ApiError> {
    state.auth.check_token(headers)?;
    let key = idempotency_key(headers)?;
    let signature = state.auth.signature_header(headers)?;
    body::check_content_type(headers)?;
    let encoding = body::encoding(headers)?;
    let max = state.max_body_bytes;
    let declared = body::check_declared_length(headers, max)?;
    let _share = state
        .reading
        .reserve(client, declared.unwrap_or(max))
        .await?;
    let raw = body::read(body, headers, max).await?;
    state.metrics.received(raw.len());
    state.auth.check_signature(
        signature.as_ref(),
        wire::Signed {
            key: &key,
            encoding: &body::encoding_text(headers),
            body: &raw,
        },
    )?;

    // Gunzip and parsing are CPU work of up to a few tens of milliseconds for a large batch, and
    // a parsed body takes several times its size in memory: only a few run at once.
    let batch = {
        let _permit = state.validating.acquire().await.map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("waiting to validate"))
        })?;
        tokio::task::spawn_blocking(move || {
            let json = match encoding {
                Encoding::Identity => raw,
                Encoding::Gzip => body::gunzip(&raw, max)?,
            };
            batch::parse(&json)
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("validating a batch")))??
    };
    // The key names the object: it must be the one the exporter derives from these rows, so
    // that no request can store rows under another batch's name.
    let expected = wire::idempotency_key(&batch.ndjson);
    if key != expected {
        return Err(ApiError::Invalid {
            message: format!(
                "the Idempotency-Key {key} is not the key of these rows ({expected}): the key is \
                 gf1- and the first 128 bits of SHA-256 over the rows as NDJSON (see the README's \
                 webhook protocol)"
            ),
            rows: Vec::new(),
        });
    }

    let object = Lake::batch_key(batch.date, &key);
    let (rows, bytes) = (batch.rows, batch.ndjson.len());
    let put = state
        .lake
        .put(&object, Bytes::from(batch.ndjson))
        .await
        .map_err(|e| match e {
            PutError::Conflict(_) => ApiError::Conflict(format!(
                "{object} is already stored with different content; it was left as it is \
                 (a key is the hash of its rows, so this is not a resend of that batch)"
            )),
            PutError::Failed(e) => ApiError::Unavailable(e),
        })?;
    state.metrics.stored(rows, bytes);
    let done = match put {
        Put::Stored => "stored",
        Put::AlreadyStored => "already stored (unchanged)",
    };
    tracing::info!(
        rows,
        bytes,
        object = %object,
        idempotency_key = %key,
        "{done} {rows} rows at {object}"
    );
    Ok(Stored {
        stored: object,
        rows,
    })
}

/// The `Idempotency-Key` header, which names the object: required, and safe as a file name.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(wire::IDEMPOTENCY_KEY) else {
        return Err(ApiError::BadRequest(
            "the Idempotency-Key header is missing: it names the stored object, so that a \
             resent batch finds its own"
                .into(),
        ));
    };
    match value.to_str() {
        Ok(key) if wire::is_valid_idempotency_key(key) => Ok(key.to_owned()),
        _ => Err(ApiError::BadRequest(
            "the Idempotency-Key header must be 1 to 128 characters of A-Z, a-z, 0-9, `-` and `_`"
                .into(),
        )),
    }
}

/// `GET /healthz`: 200 `ok` when the lake can be written (see [`LakeStore::check`](crate::gateway::LakeStore::check)), else 503.
pub async fn healthz(State(state): State<Arc<GatewayState>>) -> Response {
    match state.lake.check().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => {
            tracing::error!("health check failed: {error:#}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the lake cannot be written; see the gateway's log\n",
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus / OpenMetrics text.
pub async fn metrics(State(state): State<Arc<GatewayState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}
