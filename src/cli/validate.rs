//! The export's flags validated into typed configuration before any work starts: the source,
//! the sink and the cursor store they name, the webhook's settings, S3's options.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::export::{
    ArchiveArgs, CursorStoreArgs, CursorStoreKind, ExportArgs, S3Args, SinkArgs, SinkKind,
    SourceArgs,
};
use crate::archive::ArchiveConfig;
use crate::cursor::{AuditConfig, Position};
use crate::error::Error;
use crate::export::ExportConfig;
use crate::export::retry::Backoff;
use crate::export::sink::{FileTarget, SinkConfig, StdoutTarget, WebhookConfig};
use crate::export::source::{self, SourceConfig};
use crate::s3::{S3Options, S3Uri};
use crate::store::{CursorStoreConfig, FileLocation, NoStore, S3Location};

impl SourceArgs {
    /// The source database; `--demo` wins over a configured URL.
    pub fn config(&self) -> Result<SourceConfig, Error> {
        if self.demo {
            return Ok(source::sqlite(std::path::Path::new(crate::demo::DEMO_PATH)));
        }
        match self.database_url.as_ref().map(|u| u.expose_secret().trim()) {
            Some(url) if !url.is_empty() => {
                source::from_url(url, Duration::from_secs(self.db_read_timeout_seconds))
            }
            _ => Err(Error::config(
                "no database: set DATABASE_URL (or --database-url) to postgres://… or sqlite://…, \
                 or pass --demo to try the bundled sample",
            )),
        }
    }
}

impl CursorStoreArgs {
    pub fn config(&self) -> Result<CursorStoreConfig, Error> {
        Ok(match self.cursor_store {
            CursorStoreKind::None => Arc::new(NoStore),
            CursorStoreKind::File => Arc::new(FileLocation {
                path: self.cursor_store_path.clone(),
            }),
            CursorStoreKind::S3 => {
                let raw = self
                    .cursor_store_uri
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty());
                let raw = raw.ok_or_else(|| {
                    Error::config("--cursor-store s3 needs --cursor-store-uri s3://bucket/key.json (or GUARDRAIL_EXPORT_CURSOR_S3_URI)")
                })?;
                let uri = S3Uri::parse(raw, false)
                    .map_err(|e| Error::config(format!("--cursor-store-uri: {e}")))?;
                Arc::new(S3Location {
                    uri,
                    options: self.s3.options(),
                    lease: Duration::from_secs(self.cursor_lease_seconds),
                })
            }
        })
    }
}

impl ArchiveArgs {
    /// The archive `--archive-uri` names, if any, reached with `s3`'s settings.
    pub fn config(&self, s3: &S3Args) -> Result<Option<ArchiveConfig>, Error> {
        match self.archive_uri.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => ArchiveConfig::parse(text, &s3.options())
                .map(Some)
                .map_err(|e| {
                    Error::config_fix(
                        format!("--archive-uri (GUARDRAIL_EXPORT_ARCHIVE_URI): {e}"),
                        "give a folder (archive/) or s3://bucket/prefix, or leave it unset",
                    )
                }),
            _ => Ok(None),
        }
    }
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        let set = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        S3Options {
            endpoint: set(&self.s3_endpoint),
            region: set(&self.s3_region),
            access_key_id: set(&self.s3_access_key_id),
            secret_access_key: self
                .s3_secret_access_key
                .clone()
                .filter(|s| !s.expose_secret().trim().is_empty()),
        }
    }
}

impl ExportArgs {
    /// Validates the flags into a typed configuration before any work starts.
    pub fn into_config(self, stderr_is_terminal: bool) -> Result<ExportConfig, Error> {
        let source = self.source.config()?;
        let sink = self.sink.config(self.source.demo)?;
        let archive = self.archive.config(&self.cursor_store.s3)?;
        let start = match self.cursor.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(
                Position::parse(text)
                    .map_err(|reason| Error::config(format!("--cursor: {reason}")))?,
            ),
            _ => None,
        };
        let provider_id = self
            .provider_id
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        Ok(ExportConfig {
            source,
            sink,
            cursor_store: self.cursor_store.config()?,
            limit: (self.limit > 0).then_some(self.limit),
            provider_id,
            start,
            reset_cursor: self.reset_cursor,
            settle: Duration::from_secs(self.settle_seconds),
            batch_size: self.batch_size,
            audit: AuditConfig {
                window: Duration::from_secs(self.audit_window_seconds),
                bucket: Duration::from_secs(self.audit_bucket_seconds),
            },
            hold_back: (self.hold_back_seconds > 0)
                .then(|| Duration::from_secs(self.hold_back_seconds)),
            // A bar's redraws would break JSON log lines apart.
            progress: stderr_is_terminal
                && !self.output.quiet
                && self.output.log_format == crate::logging::LogFormat::Text,
            interrupt: crate::export::Interrupt::never(),
            archive,
        })
    }
}

impl SinkArgs {
    /// The sink `--sink` names, its settings checked.
    pub fn config(&self, demo: bool) -> Result<SinkConfig, Error> {
        self.config_as(self.sink, demo)
    }

    /// The sink of this kind, with these settings.
    pub fn config_as(&self, kind: SinkKind, demo: bool) -> Result<SinkConfig, Error> {
        Ok(match kind {
            SinkKind::Stdout => Arc::new(StdoutTarget),
            SinkKind::File => match &self.file_path {
                Some(path) => {
                    // Found before anything is written: a configuration error (exit 2).
                    let dir = crate::fs::folder_of(path);
                    if !dir.is_dir() {
                        return Err(Error::config_fix(
                            format!("the folder {} of --file-path does not exist", dir.display()),
                            "create it, or give a path in an existing folder",
                        ));
                    }
                    Arc::new(FileTarget { path: path.clone() })
                }
                None => return Err(Error::config("--sink file needs --file-path PATH")),
            },
            SinkKind::Webhook => Arc::new(webhook_config(self, demo)?),
        })
    }
}

/// The webhook settings, checked: an http(s) URL, and demo rows only to a local receiver.
pub fn webhook_config(args: &SinkArgs, demo: bool) -> Result<WebhookConfig, Error> {
    let Some(raw) = args
        .webhook_url
        .as_ref()
        .map(|u| u.expose_secret().trim())
        .filter(|u| !u.is_empty())
    else {
        return Err(Error::config(
            "--sink webhook needs --webhook-url URL (or ANALYTICS_GUARDRAIL_WEBHOOK)",
        ));
    };
    let url = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Error::config(format!(
                "--webhook-url `{}` is not an http(s) URL",
                crate::redact::url(raw)
            ))
        })?;
    if demo && !is_loopback(&url) {
        return Err(Error::config(format!(
            "--demo rows may only go to a webhook on this machine (localhost), not {}; \
             unset ANALYTICS_GUARDRAIL_WEBHOOK or point it at a local gateway",
            crate::redact::url(raw)
        )));
    }
    Ok(WebhookConfig {
        url,
        secret: super::secret(
            args.webhook_secret.clone(),
            "--webhook-secret",
            crate::env_vars::WEBHOOK_SECRET,
            super::MIN_SECRET_CHARS,
            "or leave it unset",
        )?,
        token: super::secret(
            args.webhook_token.clone(),
            "--webhook-token",
            crate::env_vars::WEBHOOK_TOKEN,
            super::MIN_SECRET_CHARS,
            "or leave it unset",
        )?,
        timeout: Duration::from_secs(args.webhook_timeout_seconds),
        max_attempts: args.webhook_max_attempts,
        gzip: args.webhook_gzip,
        dead_letter_dir: args.dead_letter_dir.clone(),
        backoff: Backoff::default(),
        concurrency: usize::from(args.webhook_concurrency),
    })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
