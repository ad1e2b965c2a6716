//! The ops page: `/admin/reports` with the "Guardrail export health" card, the download proxy
//! and the "Run export now" trigger.
//!
//! The card is rendered on the server from the exporter's status JSON ([`source`] reads and
//! caches it, [`status`] parses it tolerantly, [`view`] decides what to show, [`pages`] renders
//! it). [`download`] streams the latest NDJSON from the status' `downloadUrl`; [`trigger`]
//! dispatches the export workflow. Every route but the login form and the stylesheet needs a
//! session ([`auth`]); forms that change something carry a CSRF token ([`csrf`]) and, like
//! the login form, are refused when another site sends them ([`origin`]); failed logins are
//! throttled per client ([`throttle`], [`client`]); every response carries strict security
//! headers ([`SECURITY_HEADERS`]).

pub mod alert;
pub mod auth;
pub mod client;
pub mod config;
pub mod csrf;
pub mod download;
pub mod flash;
pub mod handlers;
pub mod origin;
pub mod pages;
pub mod revoked;
pub mod source;
pub mod throttle;
pub mod trigger;
pub mod upstream;
pub mod view;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::error::Error;
use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

pub use config::AdminConfig;

use crate::admin::auth::Sessions;
use crate::admin::client::TrustedProxies;
use crate::admin::config::TriggerSetting;
use crate::admin::flash::Flashes;
use crate::admin::source::StatusCache;
use crate::admin::source::StatusSource;
use crate::redact::Scrubber;
use crate::s3::S3Options;

pub const REPORTS_PATH: &str = "/admin/reports";
/// The login form, where a request without a session is sent.
pub const LOGIN_PATH: &str = "/admin/login";
pub const DOWNLOAD_PATH: &str = "/api/reporting/guardrail-followups/export";
pub const TRIGGER_PATH: &str = "/api/reporting/guardrail-followups/trigger";
pub const LOGOUT_PATH: &str = "/admin/logout";
pub const STYLESHEET_PATH: &str = "/admin/assets/admin.css";

/// What every request handler shares.
#[derive(Debug)]
pub struct AdminState {
    pub sessions: Sessions,
    pub status: StatusCache,
    pub download_client: reqwest::Client,
    /// How `s3://` status and download URLs are reached.
    pub s3: S3Options,
    pub trigger: TriggerSetting,
    pub trigger_client: reqwest::Client,
    pub workflow_url: Option<Url>,
    pub stale_after: Duration,
    pub cache_ttl: Duration,
    pub flashes: Flashes,
    /// Whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// The scheme browsers use for this page when no trusted proxy says: `https` beyond
    /// loopback (cookies are `Secure` there), else `http`.
    pub scheme: &'static str,
    /// Hides the configured secrets, and any token, in what other servers answer.
    pub scrubber: Scrubber,
    /// The only folder a local download is served from, when set.
    pub archive_dir: Option<std::path::PathBuf>,
}

impl AdminState {
    pub fn new(config: AdminConfig) -> anyhow::Result<Arc<AdminState>> {
        let mut scrubber = config.scrubber.clone();
        if let TriggerSetting::Ready(trigger) = &config.trigger {
            scrubber.add_url(trigger.url.as_str());
            scrubber.keep_readable(&trigger.git_ref);
        }
        Ok(Arc::new(AdminState {
            scheme: if config.auth.secure_cookies {
                "https"
            } else {
                "http"
            },
            scrubber,
            trusted_proxies: config.trusted_proxies,
            sessions: Sessions::new(&config.auth),
            status: StatusCache::new(
                config.status,
                upstream::status_client().context("building the HTTP client")?,
                config.s3.clone(),
                config.cache_ttl,
            ),
            download_client: upstream::download_client().context("building the HTTP client")?,
            s3: config.s3,
            trigger: config.trigger,
            archive_dir: config.archive_dir,
            trigger_client: upstream::trigger_client().context("building the HTTP client")?,
            workflow_url: config.workflow_url,
            stale_after: config.stale_after,
            cache_ttl: config.cache_ttl,
            flashes: Flashes::default(),
        }))
    }

    /// What the card depends on besides the status: the same for a visitor and for the alerts.
    pub fn card_settings(&self) -> view::CardSettings<'_> {
        view::CardSettings {
            stale_after: self.stale_after,
            cache_ttl: self.cache_ttl,
            workflow_override: self.workflow_url.as_ref(),
            trigger: &self.trigger,
            source: self.status.source().map(StatusSource::describe),
            archive_dir: self.archive_dir.as_deref(),
        }
    }

    /// The address failed logins are counted under. Without a peer address (a router served
    /// without `ConnectInfo`) every request shares one.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        self.trusted_proxies
            .client(peer, headers)
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    }

    /// `Err(reason)` when another site sent this state-changing request ([`origin`]).
    pub fn check_origin(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), String> {
        let trusted = self.trusted_proxies.trusts(peer);
        let (scheme, host) = client::page_address(headers, trusted, self.scheme);
        origin::check(headers, scheme, host)
    }
}

/// The admin page's routes.
pub fn router(state: Arc<AdminState>) -> Router {
    let protected = Router::new()
        .route("/", get(handlers::root))
        .route(REPORTS_PATH, get(handlers::reports))
        .route(DOWNLOAD_PATH, get(download::export))
        .route(TRIGGER_PATH, post(trigger::run_export))
        .route(LOGOUT_PATH, post(handlers::logout))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_session,
        ));
    let router = Router::new()
        .merge(protected)
        .route(LOGIN_PATH, get(handlers::login_form).post(handlers::login))
        .route(STYLESHEET_PATH, get(pages::stylesheet))
        .fallback(handlers::not_found);
    with_security_headers(router.with_state(state))
}

/// Headers on every response: no scripts at all, no framing, no sniffing, no referrer, and no
/// caching of pages (they carry CSRF tokens) unless a handler chose otherwise.
const SECURITY_HEADERS: [(HeaderName, &str); 7] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
];

/// [`SECURITY_HEADERS`] set on every response (tower-http's `SetResponseHeaderLayer`), and
/// `Cache-Control: no-store` where a handler set none.
fn with_security_headers(router: Router) -> Router {
    let router = SECURITY_HEADERS
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::overriding(
                name,
                HeaderValue::from_static(value),
            ))
        });
    router.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}

/// `guardrail-followups admin`: listens until SIGTERM or Ctrl-C.
pub fn run(config: AdminConfig) -> Result<(), Error> {
    crate::runtime()?.block_on(async {
        let listen = config.listen;
        let limits = config.limits.clone();
        let alert = config.alert.clone();
        let open = config.auth.is_open();
        let source = config.status.as_ref().map(StatusSource::describe);
        let state = AdminState::new(config)?;
        if let Some(alert) = alert {
            tracing::info!(
                "alerting Slack when the feed is stale, failing or behind (every {} s)",
                alert.poll.as_secs()
            );
            tokio::spawn(alert::watch(Arc::clone(&state), alert));
        }
        crate::server::run(
            "admin page",
            listen,
            router(state),
            limits,
            Arc::new(crate::server::stats::ConnectionStats::default()),
            |address| {
                if open {
                    tracing::warn!(
                        "no password ({}): anyone on this machine can use the page; \
                     set it before exposing the page",
                        crate::env_vars::ADMIN_PASSWORD
                    );
                }
                if let Some(source) = source {
                    tracing::info!("export status from {source}");
                } else {
                    tracing::warn!(
                        "{} is not set: the card will say the status is not configured",
                        crate::env_vars::EXPORT_STATUS_URL
                    );
                }
                tracing::info!(address = %address, "admin page on http://{address}{REPORTS_PATH}");
            },
        )
        .await
    })
}
