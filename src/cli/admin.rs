//! `guardrail-followups admin`'s flags, and their check into the typed [`AdminConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use crate::admin::alert::AlertConfig;
use crate::admin::config::{AdminConfig, AuthConfig, TriggerConfig, TriggerSetting};
use crate::admin::source::StatusSource;
use crate::admin::upstream::http_url;
use crate::env_vars as env;
use crate::error::Error;
use crate::logging::LogFormat;
use crate::redact::{Scrubber, Secrets};
use crate::s3::S3Options;

super::limits::connection_limit_args!(AdminLimitArgs {
    max_connections: env::ADMIN_MAX_CONNECTIONS,
    max_connections_per_client: env::ADMIN_MAX_CONNECTIONS_PER_CLIENT,
    header_timeout_seconds: env::ADMIN_HEADER_TIMEOUT_SECONDS,
    min_body_rate_bytes: env::ADMIN_MIN_BODY_RATE_BYTES,
    shutdown_timeout_seconds: env::ADMIN_SHUTDOWN_TIMEOUT_SECONDS,
});

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Address to listen on. Without --password only a loopback address is allowed.
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// The exporter's status JSON ({cursor, rows, updatedAt, downloadUrl, workflowUrl}): an
    /// http(s) URL, an s3://bucket/key URI or a local file path.
    #[arg(long, env = env::EXPORT_STATUS_URL, value_name = "URL|PATH")]
    pub status_url: Option<String>,

    /// S3-compatible endpoint for s3:// status and download URLs (MinIO, moto…), e.g.
    /// http://127.0.0.1:9000. Credentials come from the standard AWS_* variables.
    #[arg(long, env = env::ADMIN_S3_ENDPOINT, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Region of the buckets s3:// status and download URLs name.
    #[arg(long, env = env::AWS_REGION, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Link for "View workflow"; overrides the status' workflowUrl.
    #[arg(long, env = env::WORKFLOW_URL, value_name = "URL")]
    pub workflow_url: Option<String>,

    /// Endpoint that "Run export now" POSTs {"ref": …} to, e.g. GitHub's
    /// https://api.github.com/repos/OWNER/REPO/actions/workflows/FILE/dispatches.
    #[arg(long, env = env::EXPORT_TRIGGER_URL, value_name = "URL")]
    pub trigger_url: Option<String>,

    /// Bearer token for the trigger endpoint (for GitHub: a token allowed to run workflows).
    /// It is sent only to --trigger-url, never to the browser.
    #[arg(long, env = env::EXPORT_TRIGGER_TOKEN, hide_env_values = true, value_name = "TOKEN")]
    pub trigger_token: Option<SecretString>,

    /// "Run export now" on a host where systemd runs the export: the page writes a request to
    /// this file, and the path unit guardrail-followups-export.path starts the export service.
    /// Instead of --trigger-url (set one of them); its folder must exist.
    #[arg(long, env = env::ADMIN_TRIGGER_FILE, value_name = "PATH")]
    pub trigger_file: Option<PathBuf>,

    /// The exporter's folder archive on this host (its --archive-uri). A status whose
    /// downloadUrl is a file is served only when the file lies inside this folder, links
    /// resolved; any other file is refused.
    #[arg(long, env = env::ADMIN_ARCHIVE_DIR, value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,

    /// Git ref the dispatched workflow runs on.
    #[arg(long, env = env::EXPORT_TRIGGER_REF, default_value = "main", value_name = "REF")]
    pub trigger_ref: String,

    /// Password of the login form (at least 12 characters; surrounding spaces are trimmed).
    /// Every page and action needs a signed-in session. Prefer the environment variable: a
    /// command line is visible to other users of the machine.
    #[arg(long, env = env::ADMIN_PASSWORD, hide_env_values = true, value_name = "PASSWORD")]
    pub password: Option<SecretString>,

    /// Key that signs session cookies (at least 32 characters). Without it a random key is made
    /// at start, so a restart signs everybody out; set it when several replicas serve the page.
    #[arg(long, env = env::ADMIN_SESSION_KEY, hide_env_values = true, value_name = "KEY")]
    pub session_key: Option<SecretString>,

    /// Reverse proxies in front of the page, as IP addresses or networks (10.0.0.0/8),
    /// comma-separated. Only requests from them have their X-Forwarded-For (the client failed
    /// logins are counted for), X-Forwarded-Host and X-Forwarded-Proto (the address the
    /// browser used, which a form's Origin must match) believed. Default: none.
    #[arg(long = "trusted-proxy", env = env::ADMIN_TRUSTED_PROXIES, value_name = "IP|CIDR",
          value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    #[command(flatten)]
    pub limits: AdminLimitArgs,

    /// Slack incoming webhook for alerts about the feed: the page tells it once when the card
    /// turns Stale, Failing, Behind (see --alert-behind-minutes) or unreadable, and once when it
    /// is Healthy again. Off when unset.
    #[arg(long, env = env::ADMIN_ALERT_SLACK_WEBHOOK, hide_env_values = true, value_name = "URL")]
    pub alert_slack_webhook: Option<SecretString>,

    /// How often the page reads the status for alerts (through its cache, see
    /// --status-cache-seconds).
    #[arg(long, env = env::ADMIN_ALERT_POLL_SECONDS, default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub alert_poll_seconds: u64,

    /// Rows after the cursor make a Behind alert once the oldest is older than this.
    #[arg(long, env = env::ADMIN_ALERT_BEHIND_MINUTES, default_value_t = 120, value_name = "MINUTES",
          value_parser = clap::value_parser!(u64).range(1..=60 * 24 * 31))]
    pub alert_behind_minutes: u64,

    /// File where the page keeps what it last told Slack, so a restart during an incident does
    /// not tell it again (its folder must exist). Without it, a restart tells an ongoing
    /// incident once more.
    #[arg(long, env = env::ADMIN_ALERT_STATE_PATH, value_name = "PATH")]
    pub alert_state_path: Option<PathBuf>,

    /// The card warns when the status' last update is older than this (the export runs hourly).
    #[arg(long, env = env::ADMIN_STALE_AFTER_MINUTES, default_value_t = 120, value_name = "MINUTES",
          value_parser = clap::value_parser!(u64).range(1..=60 * 24 * 31))]
    pub stale_after_minutes: u64,

    /// How long a status read is reused before it is read again (at most an hour). A successful
    /// "Run export now" drops it at once.
    #[arg(long, env = env::ADMIN_STATUS_CACHE_SECONDS, default_value_t = 300, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub status_cache_seconds: u64,

    /// Log lines on stderr as text or as JSON objects (for Datadog, filebeat…).
    #[arg(long, env = env::ADMIN_LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl AdminArgs {
    /// Validates the flags: usable URLs, and a password unless only this machine can reach the
    /// page.
    pub fn into_config(self) -> Result<AdminConfig, Error> {
        let scrubber = Scrubber::of(&self);
        let password = super::secret(
            self.password,
            "--password",
            env::ADMIN_PASSWORD,
            MIN_PASSWORD,
            "or leave it unset to serve this machine only (loopback)",
        )?;
        if password.is_none() && !self.listen.ip().is_loopback() {
            return Err(Error::config(format!(
                "refusing to listen on {} without authentication: set --password \
                 ({}) or listen on a loopback address such as 127.0.0.1",
                self.listen,
                env::ADMIN_PASSWORD
            )));
        }
        let session_key = super::secret(
            self.session_key,
            "--session-key",
            env::ADMIN_SESSION_KEY,
            MIN_SESSION_KEY,
            "or leave it unset for a random key per start",
        )?;
        let trusted_proxies =
            super::trusted_proxies(&self.trusted_proxies, env::ADMIN_TRUSTED_PROXIES)?;
        let trigger_token = super::secret(
            self.trigger_token,
            "--trigger-token",
            env::EXPORT_TRIGGER_TOKEN,
            MIN_TRIGGER_TOKEN,
            "or leave it unset to disable Run export now",
        )?;
        let status = match self.status_url.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => {
                Some(StatusSource::parse(text).map_err(|reason| {
                    Error::config(format!("{} `{text}`: {reason}", env::EXPORT_STATUS_URL))
                })?)
            }
            _ => None,
        };
        let workflow_url = match self.workflow_url.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(http_url(text).ok_or_else(|| {
                Error::config(format!(
                    "{} `{text}` is not an http(s) URL",
                    env::WORKFLOW_URL
                ))
            })?),
            _ => None,
        };
        let trigger = match self.trigger_file.filter(|p| !p.as_os_str().is_empty()) {
            Some(_)
                if self
                    .trigger_url
                    .as_deref()
                    .is_some_and(|u| !u.trim().is_empty()) =>
            {
                return Err(Error::config_fix(
                    format!(
                        "both {} and {} are set",
                        env::ADMIN_TRIGGER_FILE,
                        env::EXPORT_TRIGGER_URL
                    ),
                    "set the trigger file where systemd runs the export on this host, the \
                     trigger URL where a workflow does; not both",
                ));
            }
            Some(path) => {
                let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
                if folder.is_some_and(|f| !f.is_dir()) {
                    return Err(Error::config_fix(
                        format!(
                            "{} {}: its folder does not exist",
                            env::ADMIN_TRIGGER_FILE,
                            path.display()
                        ),
                        "create the folder (the admin unit's StateDirectory), or correct the path",
                    ));
                }
                TriggerSetting::RequestFile(path)
            }
            None => trigger_setting(
                self.trigger_url.as_deref(),
                trigger_token,
                self.trigger_ref.trim(),
            )?,
        };
        // It may not exist yet: the export creates it on its first run.
        let archive_dir = self
            .archive_dir
            .filter(|p| !p.as_os_str().is_empty())
            .map(|dir| std::path::absolute(&dir).unwrap_or(dir));
        let alert = alert_config(
            self.alert_slack_webhook,
            self.alert_poll_seconds,
            self.alert_behind_minutes,
            self.alert_state_path,
        )?;
        let set =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let s3 = S3Options {
            endpoint: set(self.s3_endpoint),
            region: set(self.s3_region),
            ..S3Options::default()
        };
        Ok(AdminConfig {
            listen: self.listen,
            status,
            s3,
            workflow_url,
            trigger,
            auth: AuthConfig {
                password,
                key: AuthConfig::session_key(session_key.as_ref()),
                secure_cookies: !self.listen.ip().is_loopback(),
            },
            stale_after: Duration::from_secs(self.stale_after_minutes * 60),
            cache_ttl: Duration::from_secs(self.status_cache_seconds),
            limits: self.limits.limits(trusted_proxies.clone()),
            alert,
            trusted_proxies,
            scrubber,
            archive_dir,
        })
    }
}

impl Secrets for AdminArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        scrubber.add_secrets([&self.trigger_token, &self.password, &self.session_key]);
        // The Slack incoming webhook's URL is a credential as a whole.
        if let Some(slack) = &self.alert_slack_webhook {
            scrubber.add_secret_url(slack.expose_secret());
        }
        for url in [&self.status_url, &self.trigger_url].into_iter().flatten() {
            scrubber.add_url(url);
        }
    }
}

/// The alert settings: an http(s) webhook, and a state file whose folder exists.
fn alert_config(
    webhook: Option<SecretString>,
    poll_seconds: u64,
    behind_minutes: u64,
    state_path: Option<PathBuf>,
) -> Result<Option<AlertConfig>, Error> {
    let webhook = super::secret(
        webhook,
        "--alert-slack-webhook",
        env::ADMIN_ALERT_SLACK_WEBHOOK,
        12,
        "or leave it unset to send no alerts",
    )?;
    let Some(slack_webhook) = webhook else {
        return Ok(None);
    };
    if http_url(slack_webhook.expose_secret()).is_none() {
        return Err(Error::config(format!(
            "--alert-slack-webhook ({}) is not an http(s) URL: give Slack's incoming webhook, \
             https://hooks.slack.com/services/…",
            env::ADMIN_ALERT_SLACK_WEBHOOK
        )));
    }
    let state_path = state_path.filter(|p| !p.as_os_str().is_empty());
    if let Some(path) = &state_path {
        let folder = crate::fs::folder_of(path);
        if !folder.is_dir() {
            return Err(Error::config(format!(
                "--alert-state-path ({}) {}: the folder {} does not exist; create it or choose \
                 another path",
                env::ADMIN_ALERT_STATE_PATH,
                path.display(),
                folder.display()
            )));
        }
    }
    Ok(Some(AlertConfig {
        slack_webhook,
        poll: Duration::from_secs(poll_seconds),
        behind_after: Duration::from_secs(behind_minutes * 60),
        state_path,
    }))
}

fn trigger_setting(
    url: Option<&str>,
    token: Option<SecretString>,
    git_ref: &str,
) -> Result<TriggerSetting, Error> {
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    let url = match url {
        Some(text) => Some(http_url(text).ok_or_else(|| {
            Error::config(format!(
                "{} `{}` is not an http(s) URL",
                env::EXPORT_TRIGGER_URL,
                crate::redact::url(text)
            ))
        })?),
        None => None,
    };
    if git_ref.is_empty() {
        return Err(Error::config(format!(
            "{} must name a branch or tag, e.g. main",
            env::EXPORT_TRIGGER_REF
        )));
    }
    Ok(match (url, token) {
        (Some(url), Some(token)) => TriggerSetting::Ready(TriggerConfig {
            url,
            token,
            git_ref: git_ref.to_owned(),
        }),
        (url, token) => {
            let mut missing = Vec::new();
            if url.is_none() {
                missing.push(env::EXPORT_TRIGGER_URL);
            }
            if token.is_none() {
                missing.push(env::EXPORT_TRIGGER_TOKEN);
            }
            TriggerSetting::Missing(missing)
        }
    })
}

/// The shortest secrets accepted, in characters (after trimming). The session key's 32 make
/// its HMAC key unguessable; 12 characters of a password chosen by a person, with the login
/// throttle, are out of reach of guessing; every token GitHub issues is longer than 20.
pub const MIN_PASSWORD: usize = 12;
pub const MIN_SESSION_KEY: usize = 32;
pub const MIN_TRIGGER_TOKEN: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn config(flags: &[&str]) -> Result<AdminConfig, Error> {
        let mut argv = vec!["admin"];
        argv.extend_from_slice(flags);
        Flags::try_parse_from(argv).unwrap().admin.into_config()
    }

    #[test]
    fn alerts_are_off_without_a_webhook_and_a_bad_one_or_a_missing_state_folder_is_refused() {
        assert!(config(&[]).unwrap().alert.is_none());
        let webhook = "https://hooks.slack.com/services/T0/B0/abcdef";
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("alert.json");
        let alert = config(&[
            "--alert-slack-webhook",
            webhook,
            "--alert-state-path",
            state.to_str().unwrap(),
            "--alert-poll-seconds",
            "30",
        ])
        .unwrap()
        .alert
        .unwrap();
        assert_eq!(alert.poll, Duration::from_secs(30));
        assert_eq!(alert.behind_after, Duration::from_secs(120 * 60));
        assert_eq!(alert.state_path.as_deref(), Some(state.as_path()));
        let configured = config(&["--alert-slack-webhook", webhook]).unwrap();
        assert_eq!(configured.scrubber.scrub(webhook), "***");

        let not_url = config(&["--alert-slack-webhook", "hooks.slack.com/services/x"]).unwrap_err();
        assert_eq!(not_url.exit_code(), crate::error::exit::CONFIG);
        assert!(
            not_url.message().contains("is not an http(s) URL"),
            "{}",
            not_url.message()
        );
        assert!(
            !not_url.message().contains("services/x"),
            "{}",
            not_url.message()
        );
        let missing = dir.path().join("no-such-folder/alert.json");
        let error = config(&[
            "--alert-slack-webhook",
            webhook,
            "--alert-state-path",
            missing.to_str().unwrap(),
        ])
        .unwrap_err();
        assert_eq!(error.exit_code(), crate::error::exit::CONFIG);
        assert!(
            error.message().contains("does not exist"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_session_key_signs_alike_on_every_replica_and_must_be_long() {
        let key = "k".repeat(32);
        let one = config(&["--session-key", &key]).unwrap();
        let two = config(&["--session-key", &key]).unwrap();
        assert_eq!(one.auth.key, two.auth.key);
        assert_ne!(AuthConfig::session_key(None), AuthConfig::session_key(None));
        let short = config(&["--session-key", "short"]).unwrap_err();
        assert!(short.message().contains("at least 32 characters"));
    }

    #[test]
    fn the_trigger_is_ready_only_with_both_url_and_token() {
        let url = "https://api.github.com/repos/o/r/actions/workflows/x.yml/dispatches";
        let token = "ghp_0123456789abcdefghij";
        let ready = config(&["--trigger-url", url, "--trigger-token", token]).unwrap();
        assert!(matches!(ready.trigger, TriggerSetting::Ready(_)));
        let missing = config(&["--trigger-url", url]).unwrap();
        assert!(
            matches!(missing.trigger, TriggerSetting::Missing(names) if names == [env::EXPORT_TRIGGER_TOKEN])
        );
        assert!(config(&["--trigger-url", "ftp://x"]).is_err());
        let password = "a long enough password";
        let beyond_loopback =
            config(&["--listen", "0.0.0.0:8081", "--password", password]).unwrap();
        assert!(beyond_loopback.auth.secure_cookies);
    }

    #[test]
    fn secrets_are_trimmed_and_blank_or_short_ones_refused() {
        let padded = config(&["--password", "  twelve chars!\n"]).unwrap();
        assert_eq!(
            padded.auth.password.unwrap().expose_secret(),
            "twelve chars!"
        );
        let cases: [(&[&str], &str); 5] = [
            (
                &["--password", "   "],
                "--password (GUARDRAIL_ADMIN_PASSWORD) is blank. Fix: set it to a value of at \
                 least 12 characters, or leave it unset to serve this machine only (loopback)",
            ),
            (
                &["--password", " eleven char "],
                "--password (GUARDRAIL_ADMIN_PASSWORD) must be at least 12 characters long",
            ),
            (
                &["--session-key", " \t"],
                "--session-key (GUARDRAIL_ADMIN_SESSION_KEY) is blank",
            ),
            (
                &["--trigger-token", " "],
                "--trigger-token (GUARDRAIL_EXPORT_TRIGGER_TOKEN) is blank",
            ),
            (
                &["--trigger-token", "ghp_short"],
                "--trigger-token (GUARDRAIL_EXPORT_TRIGGER_TOKEN) must be at least 20 characters",
            ),
        ];
        for (flags, message) in cases {
            let error = config(flags).unwrap_err();
            assert_eq!(error.exit_code(), crate::error::exit::CONFIG, "{flags:?}");
            assert!(
                error.message().starts_with(message),
                "{flags:?}: {}",
                error.message()
            );
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let none = config(&[]).unwrap();
        assert!(none.trusted_proxies.is_empty());
        let some = config(&[
            "--trusted-proxy",
            "127.0.0.1, 10.0.0.0/8",
            "--trusted-proxy",
            "::1",
        ])
        .unwrap();
        assert!(some.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
        assert!(some.trusted_proxies.contains("::1".parse().unwrap()));
        assert!(!some.trusted_proxies.contains("192.0.2.1".parse().unwrap()));
        let bad = config(&["--trusted-proxy", "proxy.internal"]).unwrap_err();
        assert_eq!(
            bad.message(),
            "--trusted-proxy (GUARDRAIL_ADMIN_TRUSTED_PROXIES) `proxy.internal` is not an IP \
             address or network such as 10.0.0.0/8. Fix: list the reverse proxies' IP addresses \
             or networks, comma-separated, e.g. 127.0.0.1,10.0.0.0/8"
        );
    }
}
