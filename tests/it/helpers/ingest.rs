//! Driving the gateway's router without a socket: valid rows, signed requests, and the lake
//! folder's contents.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use guardrail_followups::gateway::{self, Auth, GatewayState, Lake};
use guardrail_followups::row::{FollowUp, PlatformContext};
use guardrail_followups::time::Timestamp;
use guardrail_followups::wire;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

pub const SECRET: &str = "gateway-test-secret";
pub const TOKEN: &str = "gateway-test-token";
pub const MAX_BODY: usize = 64 * 1024;

/// `n` valid rows, one second apart from `start` (RFC 3339).
pub fn rows(n: usize, start: &str) -> Vec<FollowUp> {
    let start = Timestamp::parse(start).unwrap();
    (0..n)
        .map(|i| FollowUp {
            provider_name: (i % 2 == 0).then(|| format!("Provider {i}")),
            notes: Some(format!("note {i} — ünïcode 📦")),
            platform_context: (i % 4 != 0).then(|| PlatformContext {
                id: Some(format!("ig-{i}")),
                label: Some("Instagram".into()),
                handle: None,
                platform_type: Some("instagram".into()),
            }),
            conversion_cursor: None,
            conversion_href: Some(format!("https://admin.example.com/c/{i}")),
            ..FollowUp::new(
                Uuid::new_v4(),
                format!("provider-{}", i % 3),
                ["pause", "resume", "escalate"][i % 3],
                Timestamp::from_micros(start.micros() + i as i64 * 1_000_000 + 123_456),
            )
        })
        .collect()
}

/// The NDJSON the lake should hold for `rows`.
pub fn ndjson(rows: &[FollowUp]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect()
}

/// `{"followUps": rows}` as bytes.
pub fn envelope(rows: &[FollowUp]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "followUps": rows })).unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gateway over a lake folder inside a temporary directory.
pub struct LocalGateway {
    /// Removed with the gateway.
    _dir: tempfile::TempDir,
    pub lake: PathBuf,
    pub state: std::sync::Arc<GatewayState>,
}

impl LocalGateway {
    /// Signature and token both required, a small body cap.
    pub fn new() -> LocalGateway {
        LocalGateway::with_auth(Auth::new(Some(SECRET.into()), Some(TOKEN.into())))
    }

    pub fn with_auth(auth: Auth) -> LocalGateway {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let state = GatewayState::new(Lake::local(&lake), auth, MAX_BODY);
        LocalGateway {
            _dir: dir,
            lake,
            state,
        }
    }

    pub fn router(&self) -> Router {
        gateway::router(self.state.clone())
    }

    /// Every file under the lake folder (temporary files included), relative to it.
    pub fn files(&self) -> Vec<String> {
        files_under(&self.lake)
    }
}

pub fn files_under(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// A `POST /v1/followups` under construction: by default signed, with the token and the
/// idempotency key of its rows.
pub struct Post {
    body: Vec<u8>,
    key: Option<String>,
    /// `None`: signed when the request is built, over its final key, encoding and body.
    signature: Option<Option<String>>,
    token: Option<String>,
    headers: Vec<(String, String)>,
}

impl Post {
    /// A well-formed request for `rows`.
    pub fn rows(rows: &[FollowUp]) -> Post {
        let key = wire::idempotency_key(ndjson(rows).as_bytes());
        Post::raw(envelope(rows)).key(&key)
    }

    /// A request with this body, signed, with the right token but no idempotency key.
    pub fn raw(body: Vec<u8>) -> Post {
        Post {
            body,
            key: None,
            signature: None,
            token: Some(TOKEN.into()),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }

    pub fn key(mut self, key: &str) -> Post {
        self.key = Some(key.into());
        self
    }

    pub fn no_key(mut self) -> Post {
        self.key = None;
        self
    }

    /// This signature header (or none) instead of the one computed over the request.
    pub fn signature(mut self, signature: Option<String>) -> Post {
        self.signature = Some(signature);
        self
    }

    /// The signature header a sender with the shared secret computes for this request.
    pub fn signed_value(&self) -> String {
        let encoding = self
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-encoding"))
            .map(|(_, value)| value.trim().to_ascii_lowercase())
            .unwrap_or_default();
        wire::sign(
            SECRET.as_bytes(),
            wire::unix_now(),
            wire::Signed {
                key: self.key.as_deref().unwrap_or(""),
                encoding: &encoding,
                body: &self.body,
            },
        )
    }

    pub fn token(mut self, token: Option<&str>) -> Post {
        self.token = token.map(str::to_owned);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Post {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Gzips the body (the signature then covers the compressed bytes, as a sender's does).
    pub fn gzipped(mut self) -> Post {
        self.body = gzip(&self.body);
        self.header("content-encoding", "gzip")
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn request(self) -> Request<Body> {
        let mut builder = Request::post(gateway::INGEST_PATH);
        if let Some(key) = &self.key {
            builder = builder.header(wire::IDEMPOTENCY_KEY, key);
        }
        let signature = match &self.signature {
            Some(fixed) => fixed.clone(),
            None => Some(self.signed_value()),
        };
        if let Some(signature) = signature {
            builder = builder.header(wire::SIGNATURE, signature);
        }
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Body::from(self.body)).unwrap()
    }

    /// Sends through the router without a socket; the status and the JSON body.
    pub async fn send(self, router: Router) -> (StatusCode, Value) {
        let response = router.oneshot(self.request()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }
}
