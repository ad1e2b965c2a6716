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

/// The key the exporter derives from `rows`: the hash of their NDJSON.
fn key_of(rows: &[Value]) -> String {
    let mut ndjson = Vec::new();
    for row in rows {
        // A row that is no follow-up (a test of refusals) counts as written.
        match serde_json::from_value::<crate::row::FollowUp>(row.clone()) {
            Ok(row) => serde_json::to_writer(&mut ndjson, &row).unwrap(),
            Err(_) => serde_json::to_writer(&mut ndjson, row).unwrap(),
        }
        ndjson.push(b'\n');
    }
    wire::idempotency_key(&ndjson)
}

/// A batch of `rows`, signed with the gateway's secret.
fn signed(rows: &[Value]) -> Request<Body> {
    signed_as(rows, &key_of(rows))
}

/// A batch of `rows` under `key`, signed with the gateway's secret.
fn signed_as(rows: &[Value], key: &str) -> Request<Body> {
    signed_body(
        serde_json::to_vec(&json!({ "followUps": rows })).unwrap(),
        key,
    )
}

fn signed_body(body: Vec<u8>, key: &str) -> Request<Body> {
    let signature = wire::sign(
        SECRET.as_bytes(),
        wire::unix_now(),
        wire::Signed {
            key,
            encoding: "",
            body: &body,
        },
    );
    Request::post(INGEST_PATH)
        .header(header::CONTENT_TYPE, "application/json")
        .header(wire::IDEMPOTENCY_KEY, key)
        .header(wire::SIGNATURE, signature)
        .body(Body::from(body))
        .unwrap()
}

fn object_of(rows: &[Value]) -> String {
    format!("guardrail_followups/dt=2026-01-22/{}.ndjson", key_of(rows))
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
    let object = object_of(&[row(), row()]);
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

#[tokio::test]
async fn a_replayed_request_under_its_own_key_leaves_the_object_as_it_was() {
    let (state, lake) = gateway();
    let rows = [row()];
    assert_eq!(send(&state, signed(&rows)).await.0, StatusCode::OK);
    let before = lake.objects();
    let (status, body) = send(&state, signed(&rows)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(lake.objects(), before);
}

#[tokio::test]
async fn rows_under_another_batchs_key_get_422_and_nothing_is_stored() {
    let (state, lake) = gateway();
    let mut other = row();
    other["notes"] = json!("another batch");
    let (status, body) = send(&state, signed_as(&[row()], &key_of(&[other]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("is not the key of these rows"), "{body}");
    assert!(lake.objects().is_empty());
}

#[tokio::test]
async fn different_bytes_at_a_stored_key_get_409_and_the_object_is_unchanged() {
    let (state, lake) = gateway();
    let rows = [row()];
    let object = object_of(&rows);
    let stored = bytes::Bytes::from_static(b"{\"other\":true}\n");
    crate::gateway::LakeStore::put(&*lake, &object, stored.clone())
        .await
        .unwrap();
    let (status, body) = send(&state, signed(&rows)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(lake.objects()[&object], stored);
}

#[tokio::test]
async fn a_row_with_a_repeated_key_gets_422_naming_it() {
    let (state, lake) = gateway();
    let body = br#"{"followUps":[{"followUpId":"0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11","action":"pause","action":"resume"}]}"#;
    let (status, text) = send(&state, signed_body(body.to_vec(), &key_of(&[row()]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("`action` appears twice"), "{text}");
    assert!(lake.objects().is_empty());
}

#[tokio::test]
async fn a_v1_only_signature_is_refused_before_the_body_is_read() {
    let (state, lake) = gateway();
    let mut request = signed(&[row()]);
    let header = request.headers()[wire::SIGNATURE]
        .to_str()
        .unwrap()
        .to_owned();
    let v1_only = header[..header.find(",v2=").unwrap()].to_owned();
    request
        .headers_mut()
        .insert(wire::SIGNATURE, v1_only.parse().unwrap());
    let (status, body) = send(&state, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("no v2"), "{body}");
    assert!(lake.objects().is_empty());
}
