//! `guardrail-followups gateway`'s flags, and their check into the typed [`GatewayConfig`].

use std::net::SocketAddr;

use clap::Args;
use secrecy::SecretString;

use crate::env_vars as env;
use crate::error::Error;
use crate::gateway::{Auth, GatewayConfig, LakeUri, S3Options};
use crate::logging::LogFormat;
use crate::redact::{Scrubber, Secrets};

/// 16 MiB: a batch of 1,000 rows is usually well under 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// 64 MiB of bodies read at once.
pub const DEFAULT_BYTES_IN_FLIGHT: u64 = 64 * 1024 * 1024;

/// 16 MiB of bodies read at once from one client: a quarter of the whole.
pub const DEFAULT_BYTES_IN_FLIGHT_PER_CLIENT: u64 = 16 * 1024 * 1024;

super::limits::connection_limit_args!(GatewayLimitArgs {
    max_connections: env::GATEWAY_MAX_CONNECTIONS,
    max_connections_per_client: env::GATEWAY_MAX_CONNECTIONS_PER_CLIENT,
    header_timeout_seconds: env::GATEWAY_HEADER_TIMEOUT_SECONDS,
    min_body_rate_bytes: env::GATEWAY_MIN_BODY_RATE_BYTES,
    shutdown_timeout_seconds: env::GATEWAY_SHUTDOWN_TIMEOUT_SECONDS,
});

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address to listen on. Without --secret or --token only a loopback address is allowed.
    #[arg(long, env = env::GATEWAY_LISTEN, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Where batches land: a folder (a path or file:///path) or s3://bucket/prefix.
    #[arg(long, env = env::GATEWAY_LAKE, value_name = "URI")]
    pub lake: String,

    /// Shared secret, at least 12 characters: every request must carry a valid
    /// X-Guardrail-Signature v2 (HMAC-SHA256 over the timestamp, the Idempotency-Key, the
    /// Content-Encoding and the body; at most 300 s old).
    #[arg(long, env = env::GATEWAY_SECRET, hide_env_values = true, value_name = "SECRET")]
    pub secret: Option<SecretString>,

    /// Bearer token, at least 12 characters: every request must carry
    /// `Authorization: Bearer <TOKEN>`.
    #[arg(long, env = env::GATEWAY_TOKEN, hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<SecretString>,

    /// Largest request body accepted, compressed or decompressed; larger ones get 413.
    #[arg(long, env = env::GATEWAY_MAX_BODY_BYTES, default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    pub max_body_bytes: u64,

    /// Body bytes read at once across all connections (at least --max-body-bytes); a request
    /// waits for its share before its body is read, and gets 503 after 30 s. Bounds memory
    /// whatever clients send.
    #[arg(long, env = env::GATEWAY_MAX_BYTES_IN_FLIGHT, default_value_t = DEFAULT_BYTES_IN_FLIGHT,
          value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=1 << 34))]
    pub max_bytes_in_flight: u64,

    /// Body bytes one client address may have in flight (at least --max-body-bytes), so that
    /// one client's bodies cannot take the whole --max-bytes-in-flight. Behind a trusted proxy
    /// the client is the forwarded address.
    #[arg(long, env = env::GATEWAY_MAX_BYTES_IN_FLIGHT_PER_CLIENT,
          default_value_t = DEFAULT_BYTES_IN_FLIGHT_PER_CLIENT, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024..=1 << 34))]
    pub max_bytes_in_flight_per_client: u64,

    /// Reverse proxies in front of the gateway, as IP addresses or networks (10.0.0.0/8),
    /// comma-separated: their connections are not limited per client, and their
    /// X-Forwarded-For names the client whose body bytes are counted. Default: none.
    #[arg(long = "trusted-proxy", env = env::GATEWAY_TRUSTED_PROXIES, value_name = "IP|CIDR",
          value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    #[command(flatten)]
    pub limits: GatewayLimitArgs,

    /// S3-compatible endpoint for an s3:// lake (MinIO, moto…), e.g. http://127.0.0.1:9000.
    /// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
    #[arg(long, env = env::GATEWAY_S3_ENDPOINT, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Region of the s3:// lake's bucket.
    #[arg(long, env = env::AWS_REGION, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Log lines on stderr as text or as JSON objects (for Datadog, filebeat…).
    #[arg(long, env = env::GATEWAY_LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl GatewayArgs {
    /// Validates the flags: a usable lake URI, and authentication unless only this machine can
    /// reach the gateway.
    pub fn into_config(self) -> Result<GatewayConfig, Error> {
        let lake = LakeUri::parse(&self.lake)
            .map_err(|reason| Error::config(format!("--lake `{}`: {reason}", self.lake.trim())))?;
        let unset = "or leave it unset";
        let min = super::MIN_SECRET_CHARS;
        let secret = super::secret(self.secret, "--secret", env::GATEWAY_SECRET, min, unset)?;
        let token = super::secret(self.token, "--token", env::GATEWAY_TOKEN, min, unset)?;
        let auth = Auth::new(secret, token);
        if auth.is_open() && !self.listen.ip().is_loopback() {
            return Err(Error::config(format!(
                "refusing to listen on {} without authentication: set --secret ({}) or --token \
                 ({}), or listen on a loopback address such as 127.0.0.1",
                self.listen,
                env::GATEWAY_SECRET,
                env::GATEWAY_TOKEN
            )));
        }
        let set =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let s3 = S3Options {
            endpoint: set(self.s3_endpoint),
            region: set(self.s3_region),
            ..S3Options::default()
        };
        let trusted_proxies =
            super::trusted_proxies(&self.trusted_proxies, env::GATEWAY_TRUSTED_PROXIES)?;
        // A mistyped folder is refused, not created: batches would land where nothing loads them.
        if let LakeUri::Local(root) = &lake
            && !root.is_dir()
        {
            return Err(Error::config_fix(
                format!("the --lake folder {} does not exist", root.display()),
                "create it (the systemd unit's StateDirectory does), or correct --lake \
                 (GUARDRAIL_GATEWAY_LAKE)",
            ));
        }
        let bytes = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(GatewayConfig {
            listen: self.listen,
            lake,
            s3,
            auth,
            max_body_bytes: bytes(self.max_body_bytes),
            bytes_in_flight: bytes(self.max_bytes_in_flight),
            bytes_in_flight_per_client: bytes(self.max_bytes_in_flight_per_client),
            limits: self.limits.limits(trusted_proxies),
        })
    }
}

impl Secrets for GatewayArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        scrubber.add_secrets([&self.secret, &self.token]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        gateway: GatewayArgs,
    }

    fn config(flags: &[&str]) -> Result<GatewayConfig, Error> {
        let mut argv = vec!["gateway"];
        argv.extend_from_slice(flags);
        Flags::try_parse_from(argv).unwrap().gateway.into_config()
    }

    #[test]
    fn only_a_loopback_gateway_may_run_without_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().to_str().unwrap();
        let open = config(&["--lake", lake]).unwrap();
        assert!(open.auth.is_open());
        let refused = config(&["--listen", "0.0.0.0:8080", "--lake", lake]).unwrap_err();
        assert!(
            refused
                .message()
                .starts_with("refusing to listen on 0.0.0.0:8080")
        );
        let signed = config(&[
            "--listen",
            "0.0.0.0:8080",
            "--lake",
            "s3://b/p",
            "--secret",
            " a-shared-secret ",
        ]);
        assert_eq!(
            signed.unwrap().lake,
            LakeUri::S3 {
                bucket: "b".into(),
                prefix: "p".into()
            }
        );
    }

    #[test]
    fn a_blank_or_short_secret_is_a_configuration_error() {
        for (value, says) in [
            ("", "is blank"),
            ("   ", "is blank"),
            ("short", "at least 12"),
        ] {
            let error = config(&["--lake", "/srv/lake", "--secret", value]).unwrap_err();
            assert_eq!(error.exit_code(), crate::error::exit::CONFIG);
            assert!(error.message().contains(says), "{}", error.message());
            assert!(error.message().contains("GUARDRAIL_GATEWAY_SECRET"));
        }
        let error = config(&["--lake", "/srv/lake", "--token", "t"]).unwrap_err();
        assert!(
            error.message().starts_with("--token"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_bad_lake_uri_is_a_configuration_error_naming_it() {
        let missing = config(&["--lake", "/srv/no-such-lake"]).unwrap_err();
        assert_eq!(missing.exit_code(), crate::error::exit::CONFIG);
        assert!(
            missing
                .message()
                .starts_with("the --lake folder /srv/no-such-lake does not exist. Fix: create it"),
            "{}",
            missing.message()
        );
        let error = config(&["--lake", "gs://b/p"]).unwrap_err();
        assert_eq!(error.exit_code(), crate::error::exit::CONFIG);
        assert!(
            error.message().starts_with("--lake `gs://b/p`: "),
            "{}",
            error.message()
        );
    }
}
