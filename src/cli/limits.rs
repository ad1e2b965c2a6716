//! The connection-limit flags that the gateway and the ops page share, each server under its
//! own environment variables (so a macro: clap's `env` is fixed per field).

use std::time::Duration;

use crate::server::Limits;
use crate::server::body_rate::MinRate;
use crate::server::proxy::TrustedProxies;

/// Defines a flag group `$name` with the five connection limits, read from the given
/// environment variables.
macro_rules! connection_limit_args {
    ($name:ident {
        max_connections: $max:expr,
        max_connections_per_client: $per_client:expr,
        header_timeout_seconds: $header:expr,
        min_body_rate_bytes: $rate:expr,
        shutdown_timeout_seconds: $shutdown:expr $(,)?
    }) => {
        #[derive(Debug, Clone, clap::Args)]
        pub struct $name {
            /// Connections served at once; more clients wait in the listen backlog. Keep it
            /// well under the open-file limit (the systemd units set LimitNOFILE=65536).
            #[arg(long, env = $max, default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS,
                  value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
            pub max_connections: u64,

            /// Connections one client address (an IPv6 /64) may have open; further ones are
            /// closed at once, so one client cannot hold --max-connections. Trusted proxies
            /// (--trusted-proxy) are not limited.
            #[arg(long, env = $per_client,
                  default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
                  value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
            pub max_connections_per_client: u64,

            /// A connection that is not serving a request is closed after this many seconds:
            /// from accept until its request headers are complete (whatever it sent, an HTTP/2
            /// preface included), and between requests on a kept-alive one.
            #[arg(long, env = $header,
                  default_value_t = crate::server::DEFAULT_HEADER_TIMEOUT_SECONDS,
                  value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
            pub header_timeout_seconds: u64,

            /// Request bodies must arrive at least this many bytes a second on average, counted
            /// from --header-timeout-seconds after the headers; a slower one is dropped with
            /// 408. 0: no minimum.
            #[arg(long, env = $rate,
                  default_value_t = crate::server::DEFAULT_MIN_BODY_RATE_BYTES,
                  value_name = "BYTES", value_parser = clap::value_parser!(u64).range(0..=1 << 30))]
            pub min_body_rate_bytes: u64,

            /// After SIGTERM, how long the requests in flight may take before the server exits
            /// anyway.
            #[arg(long, env = $shutdown,
                  default_value_t = crate::server::DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
                  value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
            pub shutdown_timeout_seconds: u64,
        }

        impl $name {
            /// The limits, with `trusted_proxies` exempt from the per-client ones.
            pub fn limits(
                &self,
                trusted_proxies: crate::server::proxy::TrustedProxies,
            ) -> crate::server::Limits {
                crate::cli::limits::limits(
                    [
                        self.max_connections,
                        self.max_connections_per_client,
                        self.header_timeout_seconds,
                        self.min_body_rate_bytes,
                        self.shutdown_timeout_seconds,
                    ],
                    trusted_proxies,
                )
            }
        }
    };
}

pub(crate) use connection_limit_args;

/// The checked limits from the five flags, in the order the macro declares them.
pub fn limits(flags: [u64; 5], trusted_proxies: TrustedProxies) -> Limits {
    let [max, per_client, header, rate, shutdown] = flags;
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Limits {
        header_timeout: Duration::from_secs(header),
        max_connections: count(max),
        max_connections_per_client: count(per_client),
        min_body_rate: MinRate {
            rate,
            grace: Duration::from_secs(header),
        },
        trusted_proxies,
        shutdown_deadline: Duration::from_secs(shutdown),
    }
}
