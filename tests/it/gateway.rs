//! The ingest gateway: every bad request gets its 4xx, says what was wrong and writes nothing;
//! a good batch lands once, durably, at its dated key, in a local folder or in S3.

use std::time::Duration;

use axum::http::StatusCode;
use guardrail_followups::gateway::{self, Auth, GatewayState, Lake};
use guardrail_followups::wire;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::gateway::{GatewayProcess, gateway_command};
use crate::helpers::ingest::{
    LocalGateway, MAX_BODY, Post, SECRET, TOKEN, envelope, files_under, gzip, ndjson, rows,
};
use crate::helpers::s3::{create_bucket, get_object, list_keys, s3_options};
use crate::helpers::server::unread_by_server;

/// Asserts a refusal: its status, that its message mentions `words`, and that nothing was written.
#[track_caller]
fn assert_refused(
    gateway: &LocalGateway,
    (status, body): &(StatusCode, Value),
    expected: StatusCode,
    words: &str,
) {
    assert_eq!(*status, expected, "{body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"));
    assert!(
        message.contains(words),
        "`{message}` should mention `{words}`"
    );
    assert_eq!(gateway.files(), Vec::<String>::new(), "nothing is written");
}

fn row_json(index: usize) -> Value {
    serde_json::to_value(&rows(index + 1, "2026-01-22T04:00:00Z")[index]).unwrap()
}

/// A request whose body is `{"followUps": rows}` for raw JSON rows.
fn post_values(rows: Vec<Value>) -> Post {
    Post::raw(serde_json::to_vec(&json!({ "followUps": rows })).unwrap()).key("gf1-test")
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_400_and_nothing_is_written() {
    let gateway = LocalGateway::new();
    let reply = Post::raw(b"{\"followUps\": [".to_vec())
        .key("gf1-x")
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn a_row_with_a_wrong_type_gets_422_naming_the_row_and_the_field() {
    let gateway = LocalGateway::new();
    let mut bad = row_json(2);
    bad["providerId"] = json!(42);
    let reply = post_values(vec![row_json(0), row_json(1), bad])
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "1 of 3 rows",
    );
    assert_eq!(reply.1["rows"][0]["index"], 2, "{}", reply.1);
    let reason = reply.1["rows"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("`providerId`: invalid type: integer `42`, expected a string"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_row_missing_a_key_gets_422_naming_the_key() {
    let gateway = LocalGateway::new();
    let mut bad = row_json(0);
    bad.as_object_mut().unwrap().remove("action");
    let mut nullable_missing = row_json(1);
    nullable_missing.as_object_mut().unwrap().remove("notes");
    let reply = post_values(vec![bad, nullable_missing])
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "2 of 2 rows",
    );
    assert_eq!(
        reply.1["rows"],
        json!([
            {"index": 0, "reason": "missing field `action`"},
            {"index": 1, "reason": "missing field `notes`"},
        ])
    );
}

#[tokio::test]
async fn a_row_with_an_unknown_key_gets_422_naming_the_key() {
    let gateway = LocalGateway::new();
    let mut bad = row_json(0);
    bad["attachments"] = json!([]);
    let reply = post_values(vec![bad]).send(gateway.router()).await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not valid",
    );
    let reason = reply.1["rows"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("unknown field `attachments`"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_created_at_not_in_the_exported_form_gets_422() {
    let gateway = LocalGateway::new();
    let mut bad = row_json(0);
    bad["createdAt"] = json!("2026-01-22T04:00:00+00:00");
    let reply = post_values(vec![bad]).send(gateway.router()).await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not valid",
    );
    let reason = reply.1["rows"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("createdAt") && reason.contains("2026-01-22T04:00:00.000000Z"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_uppercase_follow_up_id_and_an_unnormalised_action_get_422() {
    // (A blank providerId is a row the source can hold, and is accepted: tests/it/pipeline.rs.)
    let gateway = LocalGateway::new();
    let mut upper = row_json(0);
    upper["followUpId"] = json!(upper["followUpId"].as_str().unwrap().to_uppercase());
    let mut unnormalised = row_json(1);
    unnormalised["action"] = json!(" Pause");
    let reply = post_values(vec![upper, unnormalised])
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "2 of 2 rows",
    );
    let reasons = &reply.1["rows"];
    assert!(
        reasons[0]["reason"]
            .as_str()
            .unwrap()
            .contains("lowercase hyphenated"),
        "{reasons}"
    );
    assert_eq!(
        reasons[1]["reason"],
        "`action` ` Pause` is not trimmed and lowercase"
    );
}

#[tokio::test]
async fn rows_that_are_not_objects_and_empty_or_misshapen_batches_get_422() {
    let gateway = LocalGateway::new();
    let reply = post_values(vec![json!("a row?"), json!(null)])
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::UNPROCESSABLE_ENTITY, "2 of 2");
    assert_eq!(
        reply.1["rows"][0]["reason"],
        "the row is a string, not an object"
    );

    for (body, words) in [
        (json!({"followUps": []}), "`followUps` is empty"),
        (json!({"rows": []}), "unknown field `rows`"),
        (json!({}), "missing field `followUps`"),
        (json!({"followUps": {}}), "not an array"),
        (json!([]), "not an object"),
    ] {
        let reply = Post::raw(serde_json::to_vec(&body).unwrap())
            .key("gf1-x")
            .send(gateway.router())
            .await;
        assert_refused(&gateway, &reply, StatusCode::UNPROCESSABLE_ENTITY, words);
    }
}

#[tokio::test]
async fn a_body_over_the_cap_gets_413_whether_or_not_it_declares_its_length() {
    let gateway = LocalGateway::new();
    let big = rows(400, "2026-01-22T04:00:00Z");
    let post = Post::rows(&big);
    assert!(post.body().len() > MAX_BODY);
    let reply = post.send(gateway.router()).await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 65536 bytes",
    );

    let post = Post::rows(&big);
    let length = post.body().len().to_string();
    let reply = post
        .header("content-length", &length)
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "--max-body-bytes",
    );
}

#[tokio::test]
async fn a_gzip_bomb_gets_413_once_it_inflates_past_the_cap() {
    let gateway = LocalGateway::new();
    let mut json = b"{\"followUps\": [".to_vec();
    json.extend(std::iter::repeat_n(b' ', 20 * 1024 * 1024));
    json.extend(b"]}");
    let post = Post::raw(json).key("gf1-bomb").gzipped();
    assert!(post.body().len() < MAX_BODY, "the bomb itself is small");
    let reply = post.send(gateway.router()).await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "decompresses to more than 65536 bytes",
    );
}

#[tokio::test]
async fn a_body_that_is_not_gzip_but_says_so_gets_400_and_other_encodings_415() {
    let gateway = LocalGateway::new();
    let body = envelope(&rows(1, "2026-01-22T04:00:00Z"));
    let reply = Post::raw(body.clone())
        .key("gf1-x")
        .header("content-encoding", "gzip")
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::BAD_REQUEST, "not valid gzip");
    let reply = Post::raw(body)
        .key("gf1-x")
        .header("content-encoding", "br")
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "`br`");
}

#[tokio::test]
async fn a_bad_signature_gets_401_saying_it_does_not_match() {
    let gateway = LocalGateway::new();
    let batch = rows(2, "2026-01-22T04:00:00Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let forged = wire::sign(
        b"not-the-secret",
        wire::unix_now(),
        wire::Signed {
            key: &key,
            encoding: "",
            body: &envelope(&batch),
        },
    );
    let reply = Post::rows(&batch)
        .signature(Some(forged))
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::UNAUTHORIZED, "does not match");

    // Signed right, but the body changed on the way.
    let signature = Post::rows(&batch).signed_value();
    let other = rows(2, "2026-01-23T04:00:00Z");
    let reply = Post::rows(&other)
        .signature(Some(signature))
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::UNAUTHORIZED, "does not match");
}

#[tokio::test]
async fn a_replayed_request_with_an_old_timestamp_gets_401_as_stale() {
    let gateway = LocalGateway::new();
    let batch = rows(2, "2026-01-22T04:00:00Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let old = wire::sign(
        SECRET.as_bytes(),
        wire::unix_now() - 1000,
        wire::Signed {
            key: &key,
            encoding: "",
            body: &envelope(&batch),
        },
    );
    let reply = Post::rows(&batch)
        .signature(Some(old))
        .send(gateway.router())
        .await;
    assert_refused(&gateway, &reply, StatusCode::UNAUTHORIZED, "a replay");
    assert!(
        reply.1["error"]
            .as_str()
            .unwrap()
            .contains("s away from the receiver's clock")
    );
}

#[tokio::test]
async fn a_missing_or_malformed_signature_gets_401() {
    let gateway = LocalGateway::new();
    let batch = rows(1, "2026-01-22T04:00:00Z");
    let reply = Post::rows(&batch)
        .signature(None)
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNAUTHORIZED,
        "header is missing",
    );
    let reply = Post::rows(&batch)
        .signature(Some("sha256=abc".into()))
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNAUTHORIZED,
        "t=<unix seconds>,v1=<hex>",
    );
}

#[tokio::test]
async fn a_wrong_or_missing_bearer_token_gets_401() {
    let gateway = LocalGateway::new();
    let batch = rows(1, "2026-01-22T04:00:00Z");
    let reply = Post::rows(&batch)
        .token(Some("guess"))
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNAUTHORIZED,
        "bearer token is not",
    );
    let reply = Post::rows(&batch).token(None).send(gateway.router()).await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNAUTHORIZED,
        "Authorization header is missing",
    );
    let reply = Post::rows(&batch)
        .token(None)
        .header("authorization", &format!("Basic {TOKEN}"))
        .send(gateway.router())
        .await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::UNAUTHORIZED,
        "not `Bearer <token>`",
    );
}

#[tokio::test]
async fn a_missing_or_unsafe_idempotency_key_gets_400() {
    let gateway = LocalGateway::new();
    let batch = rows(1, "2026-01-22T04:00:00Z");
    let reply = Post::rows(&batch).no_key().send(gateway.router()).await;
    assert_refused(
        &gateway,
        &reply,
        StatusCode::BAD_REQUEST,
        "Idempotency-Key header is missing",
    );
    for key in ["../../etc/passwd", "a b", &"k".repeat(129)] {
        let reply = Post::rows(&batch).key(key).send(gateway.router()).await;
        assert_refused(
            &gateway,
            &reply,
            StatusCode::BAD_REQUEST,
            "1 to 128 characters",
        );
    }
}

#[tokio::test]
async fn a_good_batch_lands_at_its_dated_key_as_the_rows_ndjson() {
    let gateway = LocalGateway::new();
    // The first row decides the day, even when later rows fall on the next one.
    let batch = rows(5, "2026-01-22T23:59:57Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let (status, body) = Post::rows(&batch).send(gateway.router()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let object = format!("guardrail_followups/dt=2026-01-22/{key}.ndjson");
    assert_eq!(body, json!({"stored": object, "rows": 5}));
    assert_eq!(gateway.files(), vec![object.clone()]);
    let stored = std::fs::read_to_string(gateway.lake.join(&object)).unwrap();
    assert_eq!(stored, ndjson(&batch));
    assert!(
        stored
            .lines()
            .nth(4)
            .unwrap()
            .contains("2026-01-23T00:00:01.123456Z")
    );
}

#[tokio::test]
async fn a_gzipped_batch_lands_exactly_like_a_plain_one() {
    let gateway = LocalGateway::new();
    let batch = rows(50, "2026-02-01T10:00:00Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let post = Post::rows(&batch).gzipped();
    assert!(post.body().starts_with(&[0x1f, 0x8b]));
    let (status, body) = post.send(gateway.router()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let object = format!("guardrail_followups/dt=2026-02-01/{key}.ndjson");
    assert_eq!(body["stored"], object);
    assert_eq!(
        std::fs::read_to_string(gateway.lake.join(&object)).unwrap(),
        ndjson(&batch)
    );
}

#[tokio::test]
async fn resending_a_batch_overwrites_its_object_instead_of_adding_one() {
    let gateway = LocalGateway::new();
    let batch = rows(3, "2026-01-22T04:00:00Z");
    for _ in 0..3 {
        let (status, body) = Post::rows(&batch).send(gateway.router()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let files = gateway.files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read_to_string(gateway.lake.join(&files[0])).unwrap(),
        ndjson(&batch)
    );
}

#[tokio::test]
async fn a_batch_with_neither_secret_nor_token_configured_needs_no_credentials() {
    let gateway = LocalGateway::with_auth(Auth::default());
    let batch = rows(2, "2026-01-22T04:00:00Z");
    let (status, body) = Post::rows(&batch)
        .signature(None)
        .token(None)
        .send(gateway.router())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(gateway.files().len(), 1);
}

#[tokio::test]
async fn a_lake_that_cannot_be_written_gets_503_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Root ignores permission bits, so the lake is made impossible instead: its parent is a file.
    std::fs::write(dir.path().join("not-a-folder"), b"x").unwrap();
    let lake = dir.path().join("not-a-folder").join("lake");
    let state = GatewayState::new(Lake::local(&lake), Auth::default(), MAX_BODY);
    let router = gateway::router(state);
    let batch = rows(2, "2026-01-22T04:00:00Z");
    let request = Post::rows(&batch).signature(None).token(None);
    let response = tower::ServiceExt::oneshot(router.clone(), request.request())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("retry later"), "{message}");
    assert!(
        !message.contains("not-a-folder"),
        "paths stay in the log: {message}"
    );
    assert_eq!(files_under(dir.path()), vec!["not-a-folder".to_owned()]);

    let health = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::get("/healthz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// Starts the router on a loopback port in this process; returns its base URL and a stopper.
async fn serve_in_process(
    state: std::sync::Arc<GatewayState>,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        gateway::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (base, stop, server)
}

#[tokio::test]
async fn over_tcp_healthz_answers_and_metrics_count_a_stored_and_a_refused_batch() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let gateway = LocalGateway::new();
    std::fs::create_dir_all(&gateway.lake).unwrap();
    let (base, stop, server) = serve_in_process(gateway.state.clone()).await;
    let client = reqwest::Client::new();

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");

    let batch = rows(3, "2026-01-22T04:00:00Z");
    let post = Post::rows(&batch);
    let body = post.body().to_vec();
    let send = |body: Vec<u8>, key: &str| {
        client
            .post(format!("{base}{}", gateway::INGEST_PATH))
            .header("content-type", "application/json")
            .header(wire::IDEMPOTENCY_KEY, key)
            .header(
                wire::SIGNATURE,
                wire::sign(
                    SECRET.as_bytes(),
                    wire::unix_now(),
                    wire::Signed {
                        key,
                        encoding: "",
                        body: &body,
                    },
                ),
            )
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(body)
            .send()
    };
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let stored = send(body, &key).await.unwrap();
    assert_eq!(stored.status(), 200);
    let refused = send(b"{\"followUps\": []}".to_vec(), "gf1-empty")
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);

    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = metrics.text().await.unwrap();
    let bytes = ndjson(&batch).len();
    for line in [
        "guardrail_gateway_rows_stored_total 3".to_owned(),
        "guardrail_gateway_batches_stored_total 1".to_owned(),
        format!("guardrail_gateway_bytes_stored_total {bytes}"),
        "guardrail_gateway_requests_total{outcome=\"stored\",status=\"200\"} 1".to_owned(),
        "guardrail_gateway_requests_total{outcome=\"invalid\",status=\"422\"} 1".to_owned(),
        "guardrail_gateway_request_duration_seconds_count 2".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert_eq!(gateway.files().len(), 1);
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn the_s3_lake_stores_a_batch_at_its_dated_key_under_the_prefix() {
    let bucket = create_bucket().await;
    let lake = Lake::s3(&bucket, "raw/feeds/", &s3_options()).unwrap();
    let state = GatewayState::new(
        lake,
        Auth::new(Some(SECRET.into()), Some(TOKEN.into())),
        MAX_BODY,
    );
    let batch = rows(20, "2026-03-04T05:06:07Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    for post in [Post::rows(&batch), Post::rows(&batch).gzipped()] {
        let (status, body) = post.send(gateway::router(state.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["stored"],
            format!("guardrail_followups/dt=2026-03-04/{key}.ndjson")
        );
    }
    let object = format!("raw/feeds/guardrail_followups/dt=2026-03-04/{key}.ndjson");
    assert_eq!(
        list_keys(&bucket).await,
        vec![object.clone()],
        "a resent batch overwrites itself"
    );
    assert_eq!(
        String::from_utf8(get_object(&bucket, &object).await).unwrap(),
        ndjson(&batch)
    );
}

#[tokio::test]
async fn an_s3_lake_whose_bucket_is_missing_gets_503() {
    let lake = Lake::s3("gf-test-no-such-bucket", "", &s3_options()).unwrap();
    let state = GatewayState::new(lake, Auth::default(), MAX_BODY);
    let batch = rows(1, "2026-01-22T04:00:00Z");
    let (status, body) = Post::rows(&batch)
        .signature(None)
        .token(None)
        .send(gateway::router(state))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("retry later"),
        "{body}"
    );
}

#[tokio::test]
async fn the_gateway_refuses_to_listen_beyond_loopback_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = gateway_command(&["--listen", "0.0.0.0:0", "--lake", lake.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: refusing to listen on 0.0.0.0:0 without authentication: set --secret \
         (GUARDRAIL_GATEWAY_SECRET) or --token (GUARDRAIL_GATEWAY_TOKEN), or listen on a \
         loopback address such as 127.0.0.1\n"
    );
    assert!(!lake.exists(), "nothing was created");
}

#[tokio::test]
async fn an_unknown_lake_scheme_is_refused_at_start_with_exit_code_2() {
    let out = gateway_command(&["--lake", "gs://bucket/prefix", "--token", "t"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: --lake `gs://bucket/prefix`: `gs://` is not supported; give a folder path, \
         file:///absolute/path or s3://bucket/prefix\n"
    );
}

#[tokio::test]
async fn temporary_files_left_by_a_crash_are_removed_when_the_gateway_starts() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let staging = lake.join(".tmp");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(".guardrail-crashed.tmp"), b"{\"half\": ").unwrap();
    let object = lake.join("guardrail_followups/dt=2026-01-22/gf1-kept.ndjson");
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, b"{}\n").unwrap();

    let mut gateway = GatewayProcess::start(lake.to_str().unwrap(), &[]).await;
    assert_eq!(
        files_under(&lake),
        vec!["guardrail_followups/dt=2026-01-22/gf1-kept.ndjson".to_owned()],
        "the leftover is gone, the objects are untouched"
    );
    gateway.kill().await;
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_the_gateway_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut gateway = GatewayProcess::start(lake.to_str().unwrap(), &["--token", TOKEN]).await;
    let address = gateway.address();

    let batch = rows(10, "2026-01-22T04:00:00Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let body = envelope(&batch);
    let head = format!(
        "POST /v1/followups HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nIdempotency-Key: {key}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    // The request is in flight once the gateway accepted the connection and read what was sent.
    let (server, client) = (stream.peer_addr().unwrap(), stream.local_addr().unwrap());
    let waiting = std::time::Instant::now();
    while unread_by_server(server, client) != Some(0) {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the gateway did not read the request within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let pid = gateway.pid().to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    // Real time passing is the point: half a second after SIGTERM, it still waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        gateway.try_wait().is_none(),
        "the gateway waits for the request in flight"
    );

    stream.write_all(rest).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the response arrives")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&key), "{response}");

    let status = tokio::time::timeout(Duration::from_secs(10), gateway.wait())
        .await
        .expect("the gateway exits once the request is answered");
    assert_eq!(status.code(), Some(0));
    let rest_of_log = gateway.log();
    assert!(rest_of_log.contains("shutting down"), "{rest_of_log}");
    assert!(rest_of_log.contains("gateway stopped"), "{rest_of_log}");
    let object = lake.join(format!("guardrail_followups/dt=2026-01-22/{key}.ndjson"));
    assert_eq!(std::fs::read_to_string(object).unwrap(), ndjson(&batch));
}

#[tokio::test]
async fn the_ingest_path_only_takes_post_and_unknown_paths_are_404() {
    let gateway = LocalGateway::new();
    let get = tower::ServiceExt::oneshot(
        gateway.router(),
        axum::http::Request::get(gateway::INGEST_PATH)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let unknown = tower::ServiceExt::oneshot(
        gateway.router(),
        axum::http::Request::post("/followups")
            .body(axum::body::Body::from(gzip(b"{}")))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
