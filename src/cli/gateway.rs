//! `guardrail-followups gateway`'s flags, and their check into the typed [`GatewayConfig`].

use std::net::SocketAddr;

use clap::Args;
use secrecy::SecretString;

use crate::env_vars as env;
use crate::error::Error;
use crate::gateway::{Auth, GatewayConfig, LakeUri, S3Options};
use crate::logging::LogFormat;

/// 16 MiB: a batch of 1,000 rows is usually well under 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address to listen on. Without --secret or --token only a loopback address is allowed.
    #[arg(long, env = env::GATEWAY_LISTEN, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Where batches land: a folder (a path or file:///path) or s3://bucket/prefix.
    #[arg(long, env = env::GATEWAY_LAKE, value_name = "URI")]
    pub lake: String,

    /// Shared secret: every request must carry a valid X-Guardrail-Signature (HMAC-SHA256 over
    /// "<unix seconds>.<body>", at most 300 s old).
    #[arg(long, env = env::GATEWAY_SECRET, hide_env_values = true, value_name = "SECRET")]
    pub secret: Option<SecretString>,

    /// Bearer token: every request must carry `Authorization: Bearer <TOKEN>`.
    #[arg(long, env = env::GATEWAY_TOKEN, hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<SecretString>,

    /// Largest request body accepted, compressed or decompressed; larger ones get 413.
    #[arg(long, env = env::GATEWAY_MAX_BODY_BYTES, default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    pub max_body_bytes: u64,

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
        let auth = Auth::new(self.secret, self.token);
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
        Ok(GatewayConfig {
            listen: self.listen,
            lake,
            s3,
            auth,
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
        })
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
        let open = config(&["--lake", "/srv/lake", "--secret", ""]).unwrap();
        assert!(open.auth.is_open());
        let refused = config(&["--listen", "0.0.0.0:8080", "--lake", "/srv/lake"]).unwrap_err();
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
            "s",
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
    fn a_bad_lake_uri_is_a_configuration_error_naming_it() {
        let error = config(&["--lake", "gs://b/p"]).unwrap_err();
        assert_eq!(error.exit_code(), crate::error::exit::CONFIG);
        assert!(
            error.message().starts_with("--lake `gs://b/p`: "),
            "{}",
            error.message()
        );
    }
}
