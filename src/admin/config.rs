//! The configuration the admin page runs with, already checked (the flags are in
//! `cli::AdminArgs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use crate::admin::client::TrustedProxies;
use crate::admin::source::StatusSource;
use crate::s3::S3Options;

/// The checked configuration.
#[derive(Debug)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// `None`: not configured; the card says how to configure it.
    pub status: Option<StatusSource>,
    /// Endpoint and region for `s3://` status and download URLs; credentials come from the
    /// standard `AWS_*` variables.
    pub s3: S3Options,
    pub workflow_url: Option<Url>,
    pub trigger: TriggerSetting,
    pub auth: AuthConfig,
    pub stale_after: Duration,
    pub cache_ttl: Duration,
    /// Reverse proxies whose `X-Forwarded-For/-Host/-Proto` are believed (none by default).
    pub trusted_proxies: TrustedProxies,
    /// How the page treats its clients' connections.
    pub limits: crate::server::Limits,
    /// Slack alerts about the feed; `None`: off.
    pub alert: Option<AlertConfig>,
    /// Hides the configured secrets (`AdminArgs`' [`crate::redact::Secrets`]).
    pub scrubber: crate::redact::Scrubber,
    /// The exporter's folder archive: the only folder a local download may come from.
    pub archive_dir: Option<PathBuf>,
}

/// How the page alerts.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// Slack's incoming webhook (a secret).
    pub slack_webhook: SecretString,
    pub poll: Duration,
    /// Rows after the cursor older than this make an incident.
    pub behind_after: Duration,
    /// Where what Slack was told is kept across restarts; `None`: in memory only.
    pub state_path: Option<PathBuf>,
}

/// Whether "Run export now" can work, and if not, what is missing.
#[derive(Debug, Clone)]
pub enum TriggerSetting {
    Ready(TriggerConfig),
    /// "Run export now" writes a request to this file; on a systemd host a path unit watching
    /// it starts the export service (`deploy/guardrail-followups-export.path`).
    RequestFile(PathBuf),
    /// Not (fully) configured: the names of the missing variables.
    Missing(Vec<&'static str>),
}

#[derive(Debug, Clone)]
pub struct TriggerConfig {
    pub url: Url,
    pub token: SecretString,
    pub git_ref: String,
}

/// Who may use the page. Without a password the page is open to this machine only.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub password: Option<SecretString>,
    /// Signs session cookies and derives CSRF tokens.
    pub key: [u8; 32],
    /// Mark cookies `Secure`: beyond loopback the page must be served over HTTPS (a reverse
    /// proxy terminating TLS), so the session never travels in clear text.
    pub secure_cookies: bool,
}

impl AuthConfig {
    pub fn is_open(&self) -> bool {
        self.password.is_none()
    }

    /// The key that signs cookies: derived from the configured session key, so that replicas
    /// given the same one accept each other's cookies; random without one.
    pub fn session_key(configured: Option<&SecretString>) -> [u8; 32] {
        if let Some(key) = configured {
            Sha256::new()
                .chain_update(b"guardrail-followups admin session key\0")
                .chain_update(key.expose_secret().as_bytes())
                .finalize()
                .into()
        } else {
            let mut key = [0u8; 32];
            rand::RngExt::fill(&mut rand::rng(), &mut key);
            key
        }
    }
}
