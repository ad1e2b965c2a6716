//! The gateway's handlers driven through `router(state)` on the in-memory lake: what a request
//! gets back and what it leaves in the lake, without a socket or a disk.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::gateway::{Auth, GatewayState, INGEST_PATH, Lake, MemoryLake, router};
use crate::wire;

const SECRET: &str = "shared-secret";
const KEY: &str = "gf1-0123456789abcdef0123456789abcdef";

fn row() -> Value {
    json!({
        "followUpId": "0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11",
        "providerId": "provider-1",
        "providerName": "Northwind",
        "action": "pause",
        "notes": null,
        "platformContext": {"id": "ig-1", "label": null, "handle": null, "platformType": "instagram"},
        "conversionCursor": null,
        "conversionHref": null,
        "createdAt": "2026-01-22T04:00:00.000000Z"
    })
}

fn gateway() -> (Arc<GatewayState>, Arc<MemoryLake>) {
    let memory = Arc::new(MemoryLake::default());
    let auth = Auth::new(Some(SECRET.into()), None);
    let state = GatewayState::new(Lake::new(memory.clone()), auth, 1 << 20);
    (state, memory)
}

/// A batch of `rows`, signed with the gateway's secret.
fn signed(rows: &[Value]) -> Request<Body> {
    let body = serde_json::to_vec(&json!({ "followUps": rows })).unwrap();
    let signature = wire::sign(SECRET.as_bytes(), wire::unix_now(), &body);
    Request::post(INGEST_PATH)
        .header(header::CONTENT_TYPE, "application/json")
        .header(wire::IDEMPOTENCY_KEY, KEY)
        .header(wire::SIGNATURE, signature)
        .body(Body::from(body))
        .unwrap()
}

async fn send(state: &Arc<GatewayState>, request: Request<Body>) -> (StatusCode, String) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn a_signed_valid_batch_is_stored_whole_and_answered_200() {
    let (state, lake) = gateway();
    let (status, body) = send(&state, signed(&[row(), row()])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let object = format!("guardrail_followups/dt=2026-01-22/{KEY}.ndjson");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer, json!({ "stored": object, "rows": 2 }));
    let objects = lake.objects();
    assert_eq!(objects.keys().collect::<Vec<_>>(), [&object]);
    let lines: Vec<Value> = std::str::from_utf8(&objects[&object])
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, [row(), row()]);
}

#[tokio::test]
async fn a_batch_with_one_bad_row_gets_422_and_nothing_is_stored() {
    let (state, lake) = gateway();
    let mut bad = row();
    bad["action"] = json!(7);
    let (status, body) = send(&state, signed(&[row(), bad])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["error"],
        "1 of 2 rows are not valid follow-ups; nothing was stored"
    );
    assert_eq!(answer["rows"][0]["index"], 1);
    assert!(lake.objects().is_empty());
}

#[tokio::test]
async fn an_unsigned_batch_gets_401_and_nothing_is_stored() {
    let (state, lake) = gateway();
    let mut request = signed(&[row()]);
    request.headers_mut().remove(wire::SIGNATURE);
    let (status, body) = send(&state, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body.contains("X-Guardrail-Signature header is missing"),
        "{body}"
    );
    assert!(lake.objects().is_empty());
}

#[tokio::test]
async fn a_lake_that_cannot_be_written_gets_503_with_retry_after_and_fails_the_health_check() {
    let (state, lake) = gateway();
    lake.set_failing(true);
    let response = router(state.clone())
        .oneshot(signed(&[row()]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let health = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(
        send(&state, health).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the lake cannot be written; see the gateway's log\n".into()
        )
    );

    lake.set_failing(false);
    assert_eq!(send(&state, signed(&[row()])).await.0, StatusCode::OK);
    let health = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(send(&state, health).await, (StatusCode::OK, "ok\n".into()));
    assert_eq!(lake.objects().len(), 1);
}
