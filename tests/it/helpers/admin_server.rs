//! The admin page under test — as a real process of the binary, or in this process from
//! `router(state)` — and the servers it talks to: a file host for the status and the NDJSON,
//! and a stand-in for GitHub's workflow-dispatch endpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use guardrail_followups::admin::auth::SESSION_COOKIE;
use guardrail_followups::admin::config::{AuthConfig, TriggerConfig, TriggerSetting};
use guardrail_followups::admin::source::StatusSource;
use guardrail_followups::admin::{AdminConfig, AdminState};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::process::Command;

use super::cli::BIN;
use super::server::Server;

pub const PASSWORD: &str = "correct horse battery staple";
pub const TRIGGER_TOKEN: &str = "ghp_test_token_that_must_stay_on_the_server";

/// Serves `router` on a fresh loopback port; returns its base URL (`http://127.0.0.1:PORT`).
pub async fn spawn_router(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{address}")
}

/// An in-process configuration: password set, status from `status`, trigger as given.
pub fn config(status: Option<StatusSource>, trigger: Option<&str>) -> AdminConfig {
    AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        status,
        s3: Default::default(),
        workflow_url: None,
        trigger: match trigger {
            Some(url) => TriggerSetting::Ready(TriggerConfig {
                url: url.parse().unwrap(),
                token: SecretString::from(TRIGGER_TOKEN),
                git_ref: "main".into(),
            }),
            None => TriggerSetting::Missing(vec![
                "GUARDRAIL_EXPORT_TRIGGER_URL",
                "GUARDRAIL_EXPORT_TRIGGER_TOKEN",
            ]),
        },
        auth: AuthConfig {
            password: Some(SecretString::from(PASSWORD)),
            key: [42; 32],
            secure_cookies: false,
        },
        stale_after: Duration::from_secs(2 * 3600),
        cache_ttl: Duration::from_secs(3600),
        trusted_proxies: Default::default(),
        limits: Default::default(),
        alert: None,
        archive_dir: None,
        scrubber: {
            let mut scrubber = guardrail_followups::redact::Scrubber::default();
            scrubber.add(PASSWORD);
            scrubber.add(TRIGGER_TOKEN);
            scrubber
        },
    }
}

pub fn state(config: AdminConfig) -> Arc<AdminState> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    AdminState::new(config).unwrap()
}

/// `admin` run as its own process on a loopback port it picked itself, with nothing from the
/// developer's environment leaking in.
pub struct AdminProcess {
    server: Server,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl AdminProcess {
    /// Starts `admin --listen 127.0.0.1:0 ARGS…` with `env` and waits until it logs the
    /// address it listens on.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> AdminProcess {
        let mut command = Command::new(BIN);
        super::sanitise_env(&mut command);
        command
            .args(["admin", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied());
        let server = Server::start(command, "admin page").await;
        AdminProcess {
            base: format!("http://{}", server.address),
            server,
        }
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// What the page logged on stderr so far.
    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// A client that keeps cookies the way a browser would not be needed for: it signs in with
/// the password and sends the session cookie by hand.
pub async fn sign_in(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/admin/login"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signing in");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(SESSION_COOKIE))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// The card's page as a signed-in client gets it (200 asserted).
pub async fn reports_page(http: &reqwest::Client, base: &str, cookie: &str) -> String {
    let response = http
        .get(format!("{base}/admin/reports"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.text().await.unwrap()
}

/// A client that follows no redirects (the tests look at them).
/// "Download latest NDJSON" as a signed-in browser asks for it.
pub async fn get_download(http: &reqwest::Client, base: &str, cookie: &str) -> reqwest::Response {
    http.get(format!(
        "{base}{}",
        guardrail_followups::admin::DOWNLOAD_PATH
    ))
    .header("cookie", cookie)
    .send()
    .await
    .unwrap()
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The page's CSRF token, read from its HTML.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Writes a status document to `dir/status.json` and returns its source.
pub fn status_file(dir: &Path, content: &str) -> StatusSource {
    let path = dir.join("status.json");
    std::fs::write(&path, content).unwrap();
    StatusSource::File(path)
}

/// A status document with the given update time and download URL.
pub fn status_json(updated_at: &str, download_url: Option<&str>) -> String {
    serde_json::json!({
        "cursor": "2026-01-22T04:00:00.000000Z",
        "cursorId": "9d3c7c1e-3f39-4c53-9a52-0b1f3c1d2e4f",
        "rows": 842,
        "totalRows": 12842,
        "updatedAt": updated_at,
        "downloadUrl": download_url,
        "workflowUrl": "https://github.com/acme/app/actions/runs/1234567890",
    })
    .to_string()
}

/// `now - minutes`, as the exporter writes timestamps.
pub fn minutes_ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// One request the dispatch stand-in received.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Stands in for GitHub's `POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches`:
/// records each request and answers as scripted (GitHub itself answers 204 No Content).
#[derive(Clone)]
pub struct DispatchStandIn {
    pub url: String,
    pub received: Arc<Mutex<Vec<Dispatch>>>,
}

impl DispatchStandIn {
    /// Answers every request with `status` and `body`; `on_dispatch` runs first (a test can
    /// make the "workflow" publish a new status there).
    pub async fn start(
        status: u16,
        body: &'static str,
        on_dispatch: impl Fn() + Clone + Send + Sync + 'static,
    ) -> DispatchStandIn {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let handler = move |headers: HeaderMap, body_in: Bytes| {
            let log = Arc::clone(&log);
            let on_dispatch = on_dispatch.clone();
            async move {
                log.lock().unwrap().push(Dispatch {
                    headers,
                    body: body_in,
                });
                on_dispatch();
                let code = StatusCode::from_u16(status).unwrap();
                (code, [("content-type", "application/json")], body).into_response()
            }
        };
        let path = "/repos/acme/app/actions/workflows/guardrail-followup-export.yml/dispatches";
        let base = spawn_router(Router::new().route(path, post(handler))).await;
        DispatchStandIn {
            url: format!("{base}{path}"),
            received,
        }
    }

    pub fn requests(&self) -> Vec<Dispatch> {
        self.received.lock().unwrap().clone()
    }
}

/// `application/x-www-form-urlencoded` bodies (reqwest is built without its `form` feature).
pub trait FormBody {
    fn form(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}
