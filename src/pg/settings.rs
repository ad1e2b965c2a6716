//! Typed connection settings from a [`ConnInfo`], with libpq's defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::conninfo::{ConnInfo, ConnInfoError};
pub use super::targets::Target;
use super::targets::targets;

/// How long to wait for TCP, TLS and sign-in together when the string sets no
/// `connect_timeout`, so that an unreachable or silent server fails the run.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// TCP keepalives unless the string says otherwise: a dead peer or a half-open path is
/// noticed after about two minutes (60 s idle, then 4 probes 15 s apart), not the kernel's
/// two hours.
pub const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(60);
pub const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_KEEPALIVES_COUNT: u32 = 4;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Which certificates the server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file: `sslrootcert=<file>`, or libpq's default `~/.postgresql/root.crt`.
    File(PathBuf),
    /// `sslrootcert=system`: the operating system's trust store.
    System,
}

impl RootCert {
    pub fn describe(&self) -> String {
        match self {
            RootCert::File(path) => format!("CA file {}", path.display()),
            RootCert::System => "the system's trusted CAs (sslrootcert=system)".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub targets: Vec<Target>,
    pub user: String,
    /// From the string or `PGPASSWORD`; `.pgpass` is consulted per target when absent.
    pub password: Option<String>,
    pub passfile: Option<PathBuf>,
    pub dbname: String,
    pub options: Option<String>,
    pub application_name: String,
    pub sslmode: SslMode,
    /// The roots to verify against, when the mode verifies (`require` only with a root given).
    pub root_cert: Option<RootCert>,
    /// Client certificate and key (PEM).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub sni: bool,
    pub tls13_only: bool,
    pub tls12_max: bool,
    pub direct_tls: bool,
    /// `None`: wait as long as it takes (`connect_timeout=0`).
    pub connect_timeout: Option<Duration>,
    pub keepalives: bool,
    pub keepalives_idle: Duration,
    pub keepalives_interval: Duration,
    pub keepalives_count: u32,
    pub tcp_user_timeout: Option<Duration>,
    pub read_write: Option<bool>,
    pub channel_binding: Option<String>,
    pub load_balance: bool,
}

/// What libpq would take from the process: the home folder and the OS user name.
pub struct Defaults {
    pub home: Option<PathBuf>,
    pub os_user: Option<String>,
}

impl Defaults {
    pub fn from_process() -> Defaults {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        Defaults {
            home: var("HOME").map(PathBuf::from),
            os_user: var("USER")
                .or_else(|| var("LOGNAME"))
                .and_then(|v| v.into_string().ok()),
        }
    }
}

fn seconds(info: &ConnInfo, key: &str) -> Result<Option<u64>, ConnInfoError> {
    info.get(key)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ConnInfoError::invalid(key, v, "give a whole number of seconds"))
        })
        .transpose()
}

fn boolean(info: &ConnInfo, key: &str, default: bool) -> Result<bool, ConnInfoError> {
    match info.get(key) {
        None => Ok(default),
        Some("1" | "on" | "true" | "yes") => Ok(true),
        Some("0" | "off" | "false" | "no") => Ok(false),
        Some(v) => Err(ConnInfoError::invalid(key, v, "use 1 or 0")),
    }
}

impl Settings {
    pub fn from_conninfo(info: &ConnInfo, defaults: &Defaults) -> Result<Settings, ConnInfoError> {
        let pg_dir = defaults.home.as_ref().map(|h| h.join(".postgresql"));
        let root_cert = match info.get("sslrootcert") {
            Some("system") => Some(RootCert::System),
            Some(path) if !path.is_empty() => Some(RootCert::File(PathBuf::from(path))),
            _ => pg_dir
                .as_ref()
                .map(|d| d.join("root.crt"))
                .filter(|p| p.exists())
                .map(RootCert::File),
        };
        let sslmode = match (info.get("sslmode"), info.get("requiressl")) {
            (Some("disable"), _) => SslMode::Disable,
            (Some("allow"), _) => SslMode::Allow,
            (Some("prefer"), _) => SslMode::Prefer,
            (Some("require"), _) => SslMode::Require,
            (Some("verify-ca"), _) => SslMode::VerifyCa,
            (Some("verify-full"), _) => SslMode::VerifyFull,
            (Some(v), _) => {
                return Err(ConnInfoError::invalid(
                    "sslmode",
                    v,
                    "use disable, allow, prefer, require, verify-ca or verify-full",
                ));
            }
            (None, Some("1")) => SslMode::Require,
            (None, _) if root_cert == Some(RootCert::System) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        };
        if root_cert == Some(RootCert::System) && sslmode != SslMode::VerifyFull {
            return Err(ConnInfoError::Syntax(format!(
                "weak sslmode `{}` may not be used with sslrootcert=system: use sslmode=verify-full \
                 (as libpq requires)",
                sslmode.name()
            )));
        }
        let verifies = match sslmode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => root_cert.is_some(),
            _ => false,
        };
        let client_cert = client_cert(info, pg_dir.as_deref());

        let user = match info.get("user").filter(|u| !u.is_empty()) {
            Some(user) => user.to_owned(),
            None => defaults.os_user.clone().ok_or_else(|| {
                ConnInfoError::Syntax(
                    "no user name: give one in the URL (postgres://user@host/db), with user=, or in PGUSER"
                        .into(),
                )
            })?,
        };
        let dbname = info
            .get("dbname")
            .filter(|d| !d.is_empty())
            .map_or_else(|| user.clone(), str::to_owned);

        let connect_timeout = match seconds(info, "connect_timeout")? {
            None => Some(DEFAULT_CONNECT_TIMEOUT),
            Some(0) => None,
            // libpq treats values below 2 as 2.
            Some(s) => Some(Duration::from_secs(s.max(2))),
        };
        let read_write = match info.get("target_session_attrs") {
            None | Some("any") => None,
            Some("read-write") => Some(true),
            Some("read-only") => Some(false),
            Some(v) => {
                return Err(ConnInfoError::invalid(
                    "target_session_attrs",
                    v,
                    "use any, read-write or read-only",
                ));
            }
        };
        let (tls13_only, tls12_max) = (
            match info.get("ssl_min_protocol_version") {
                None | Some("TLSv1" | "TLSv1.1" | "TLSv1.2") => false,
                Some("TLSv1.3") => true,
                Some(v) => {
                    return Err(ConnInfoError::invalid(
                        "ssl_min_protocol_version",
                        v,
                        "use TLSv1.2 or TLSv1.3",
                    ));
                }
            },
            match info.get("ssl_max_protocol_version") {
                None | Some("TLSv1.3") => false,
                Some("TLSv1.2") => true,
                Some(v) => {
                    return Err(ConnInfoError::invalid(
                        "ssl_max_protocol_version",
                        v,
                        "use TLSv1.2 or TLSv1.3",
                    ));
                }
            },
        );
        let direct_tls = match info.get("sslnegotiation") {
            None | Some("postgres") => false,
            Some("direct") if verifies || sslmode == SslMode::Require => true,
            Some("direct") => {
                return Err(ConnInfoError::Syntax(
                    "sslnegotiation=direct needs sslmode=require, verify-ca or verify-full".into(),
                ));
            }
            Some(v) => {
                return Err(ConnInfoError::invalid(
                    "sslnegotiation",
                    v,
                    "use postgres or direct",
                ));
            }
        };
        if let Some(v) = info.get("channel_binding")
            && !matches!(v, "disable" | "prefer" | "require")
        {
            return Err(ConnInfoError::invalid(
                "channel_binding",
                v,
                "use disable, prefer or require",
            ));
        }
        let load_balance = match info.get("load_balance_hosts") {
            None | Some("disable") => false,
            Some("random") => true,
            Some(v) => {
                return Err(ConnInfoError::invalid(
                    "load_balance_hosts",
                    v,
                    "use disable or random",
                ));
            }
        };

        Ok(Settings {
            targets: targets(info)?,
            user,
            password: info.get("password").map(str::to_owned),
            passfile: info
                .get("passfile")
                .map(PathBuf::from)
                .or_else(|| defaults.home.as_ref().map(|h| h.join(".pgpass"))),
            dbname,
            options: info.get("options").map(str::to_owned),
            application_name: info
                .get("application_name")
                .or(info.get("fallback_application_name"))
                .unwrap_or("guardrail-followups")
                .to_owned(),
            sslmode,
            root_cert: if verifies { root_cert } else { None },
            client_cert,
            sni: boolean(info, "sslsni", true)?,
            tls13_only,
            tls12_max,
            direct_tls,
            connect_timeout,
            keepalives: boolean(info, "keepalives", true)?,
            keepalives_idle: seconds(info, "keepalives_idle")?
                .map_or(DEFAULT_KEEPALIVES_IDLE, Duration::from_secs),
            keepalives_interval: seconds(info, "keepalives_interval")?
                .map_or(DEFAULT_KEEPALIVES_INTERVAL, Duration::from_secs),
            keepalives_count: seconds(info, "keepalives_count")?
                .map_or(DEFAULT_KEEPALIVES_COUNT, |n| {
                    u32::try_from(n).unwrap_or(u32::MAX)
                }),
            tcp_user_timeout: seconds(info, "tcp_user_timeout")?
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            read_write,
            channel_binding: info.get("channel_binding").map(str::to_owned),
            load_balance,
        })
    }

    /// `host:port/dbname` of the first server, for messages.
    pub fn describe(&self) -> String {
        let first = self
            .targets
            .first()
            .map(Target::describe)
            .unwrap_or_default();
        format!("{first}/{}", self.dbname)
    }
}

/// `sslcert`/`sslkey`, or libpq's defaults `~/.postgresql/postgresql.crt` and `.key` when the
/// certificate file exists.
fn client_cert(info: &ConnInfo, pg_dir: Option<&Path>) -> Option<(PathBuf, PathBuf)> {
    let cert = match info.get("sslcert") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        Some(_) => return None,
        None => pg_dir?.join("postgresql.crt"),
    };
    if info.get("sslcert").is_none() && !cert.exists() {
        return None;
    }
    let key = match info.get("sslkey") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => match pg_dir {
            Some(dir) if info.get("sslcert").is_none() => dir.join("postgresql.key"),
            _ => cert.with_extension("key"),
        },
    };
    Some((cert, key))
}
