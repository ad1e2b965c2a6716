//! Connecting to PostgreSQL the way `psql` does: libpq's connection strings, `PG*`
//! variables, `.pgpass`, every `sslmode`, client certificates, and timeouts that keep a
//! silent server from hanging the run.

pub mod conninfo;
mod pgpass;
pub mod settings;
mod targets;
mod tls;
mod verify;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, SslNegotiation, TargetSessionAttrs};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};

use conninfo::{ConnInfo, ConnInfoError};
use settings::{Defaults, Settings, SslMode, Target};

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection string or a TLS file cannot be used: fix the configuration (exit 2).
    #[error("{problem}{}", fix.as_ref().map(|f| format!(". Fix: {f}")).unwrap_or_default())]
    Config {
        problem: String,
        fix: Option<String>,
    },
    /// Every server was tried and none let us in (exit 1).
    #[error(transparent)]
    Failed(crate::error::Hint),
}

impl ConnectError {
    fn config(problem: impl Into<String>) -> ConnectError {
        ConnectError::Config {
            problem: problem.into(),
            fix: None,
        }
    }
}

impl From<ConnInfoError> for ConnectError {
    fn from(e: ConnInfoError) -> Self {
        ConnectError::config(e.to_string())
    }
}

/// Reads a connection string and the `PG*` variables of this process into settings.
pub fn settings(text: &str) -> Result<Settings, ConnectError> {
    let info = ConnInfo::parse(text)?.with_env(|name| std::env::var(name).ok())?;
    Ok(Settings::from_conninfo(&info, &Defaults::from_process())?)
}

/// Every secret a connection string and the `PG*` variables carry, for the scrubber: the
/// password, raw and as it may appear percent-encoded.
pub fn secrets(text: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if ConnInfo::is_postgres(text)
        && let Ok(info) = ConnInfo::parse(text)
        && let Some(password) = info.get("password")
    {
        secrets.push(password.to_owned());
        secrets.push(
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
    }
    if let Ok(password) = std::env::var("PGPASSWORD") {
        secrets.push(password);
    }
    secrets
}

/// Connects to the first server of `settings` that lets us in, within `cap` when given (for
/// `check`) or the connection's own timeout. The connection is driven in the background.
pub async fn connect(settings: &Settings, cap: Option<Duration>) -> Result<Client, ConnectError> {
    let tls = tls::configure(settings).map_err(|e| ConnectError::Config {
        problem: e.problem,
        fix: e.fix,
    })?;
    let timeout = match (settings.connect_timeout, cap) {
        (Some(t), Some(cap)) => Some(t.min(cap)),
        (t, cap) => t.or(cap),
    };
    let mut targets = settings.targets.clone();
    if settings.load_balance {
        use rand::seq::SliceRandom;
        targets.shuffle(&mut rand::rng());
    }
    let mut failures = Vec::new();
    for target in &targets {
        let modes: &[tokio_postgres::config::SslMode] = match settings.sslmode {
            _ if target.is_socket() => &[tokio_postgres::config::SslMode::Disable],
            SslMode::Disable => &[tokio_postgres::config::SslMode::Disable],
            // libpq's `allow`: plain first, TLS if the server refuses that.
            SslMode::Allow => &[
                tokio_postgres::config::SslMode::Disable,
                tokio_postgres::config::SslMode::Require,
            ],
            SslMode::Prefer => &[tokio_postgres::config::SslMode::Prefer],
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                &[tokio_postgres::config::SslMode::Require]
            }
        };
        for (attempt, mode) in modes.iter().enumerate() {
            let config = config_for(settings, target, *mode, timeout);
            if let Ok(mut slot) = tls.failure.lock() {
                *slot = None;
            }
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls.config.clone());
            let attempt_result = match timeout {
                Some(t) => tokio::time::timeout(t, config.connect(connector))
                    .await
                    .map_err(|_| None)
                    .and_then(|r| r.map_err(Some)),
                None => config.connect(connector).await.map_err(Some),
            };
            match attempt_result {
                Ok((client, connection)) => {
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "PostgreSQL connection closed");
                        }
                    });
                    return Ok(client);
                }
                Err(Some(e)) if attempt + 1 < modes.len() && e.as_db_error().is_some() => {}
                Err(e) => {
                    let verify_failure = tls.failure.lock().ok().and_then(|mut s| s.take());
                    failures.push(describe_failure(
                        settings,
                        target,
                        e.as_ref(),
                        verify_failure,
                        timeout,
                    ));
                    break;
                }
            }
        }
    }
    let Some(last) = failures.pop() else {
        return Err(ConnectError::config("DATABASE_URL names no server"));
    };
    let mut message = String::new();
    for (target, problem, _) in &failures {
        let _ = write!(message, "{target}: {problem}; ");
    }
    let (target, problem, fix) = last;
    Err(ConnectError::Failed(crate::error::Hint::new(
        format!(
            "cannot connect to PostgreSQL at {target}/{}: {message}{problem}",
            settings.dbname
        ),
        fix,
    )))
}

fn config_for(
    settings: &Settings,
    target: &Target,
    mode: tokio_postgres::config::SslMode,
    timeout: Option<Duration>,
) -> Config {
    let mut config = Config::new();
    config
        .user(&settings.user)
        .dbname(&settings.dbname)
        .application_name(&settings.application_name)
        .port(target.port)
        .ssl_mode(mode)
        .keepalives(settings.keepalives)
        .keepalives_idle(settings.keepalives_idle)
        .keepalives_interval(settings.keepalives_interval)
        .keepalives_retries(settings.keepalives_count);
    if target.is_socket() {
        config.host_path(&target.host);
    } else {
        config.host(&target.host);
    }
    if let Some(addr) = target.hostaddr {
        config.hostaddr(addr);
    }
    if let Some(t) = timeout {
        config.connect_timeout(t);
    }
    if let Some(t) = settings.tcp_user_timeout {
        config.tcp_user_timeout(t);
    }
    if let Some(options) = &settings.options {
        config.options(options);
    }
    let password = settings.password.clone().or_else(|| {
        let file = settings.passfile.as_ref()?;
        pgpass::lookup(
            file,
            &target.host,
            target.port,
            &settings.dbname,
            &settings.user,
        )
    });
    if let Some(password) = password {
        config.password(password);
    }
    match settings.read_write {
        Some(true) => config.target_session_attrs(TargetSessionAttrs::ReadWrite),
        Some(false) => config.target_session_attrs(TargetSessionAttrs::ReadOnly),
        None => config.target_session_attrs(TargetSessionAttrs::Any),
    };
    match settings.channel_binding.as_deref() {
        Some("disable") => config.channel_binding(ChannelBinding::Disable),
        Some("require") => config.channel_binding(ChannelBinding::Require),
        _ => config.channel_binding(ChannelBinding::Prefer),
    };
    if settings.direct_tls {
        config.ssl_negotiation(SslNegotiation::Direct);
    }
    config
}

/// `(host:port, what went wrong, the fix)` for one server.
fn describe_failure(
    settings: &Settings,
    target: &Target,
    error: Option<&tokio_postgres::Error>,
    verify_failure: Option<crate::error::Hint>,
    timeout: Option<Duration>,
) -> (String, String, String) {
    let place = target.describe();
    let Some(error) = error else {
        let seconds = timeout.map_or(0, |t| t.as_secs());
        return (
            place.clone(),
            format!(
                "no answer within {seconds} s (TCP connect, TLS and sign-in; a stopped server, a \
                 stuck pooler or a firewall that drops packets)"
            ),
            format!(
                "check that PostgreSQL (or PgBouncer) at {place} is up and reachable from this \
                 machine; connect_timeout=<seconds> in DATABASE_URL changes the wait"
            ),
        );
    };
    if let Some(hint) = verify_failure {
        return (place, format!("TLS: {}", hint.problem), hint.fix);
    }
    let chain = crate::redact::error_chain(error);
    if chain.contains("server does not support TLS") {
        return (
            place,
            format!(
                "the server does not accept TLS connections, but sslmode={} requires TLS",
                settings.sslmode.name()
            ),
            "turn TLS on in the server's postgresql.conf (ssl = on), or, on a network you trust, \
             connect with sslmode=prefer"
                .into(),
        );
    }
    if let Some(db) = error.as_db_error() {
        let message = db.message();
        let code = db.code();
        let fix = if *code == SqlState::INVALID_PASSWORD {
            "check the user and password in DATABASE_URL (percent-encoded in a URL), PGPASSWORD or ~/.pgpass"
                .to_owned()
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            "check the database name at the end of DATABASE_URL".into()
        } else if message.contains("no encryption") {
            "the server accepts this user only over TLS: use sslmode=require, or sslmode=verify-full with sslrootcert=<CA file>".into()
        } else if message.contains("certificate") {
            "give a client certificate issued by the CA the server trusts (its CN is the user \
             name) with sslcert=/path/client.crt and sslkey=/path/client.key"
                .into()
        } else if message.contains("pg_hba.conf") {
            "ask the database's administrator to allow this host, user and database in pg_hba.conf"
                .into()
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            "the server or pooler is full: retry later, or raise its connection limit".into()
        } else if *code == SqlState::CANNOT_CONNECT_NOW {
            "the server is starting up or shutting down: retry in a minute".into()
        } else {
            "see the server's message".into()
        };
        return (place, format!("the server said: {message}"), fix);
    }
    if chain.contains("TLS") {
        return (
            place,
            chain,
            "check sslmode and the server's TLS settings; sslmode=disable connects without TLS \
             where the network is trusted"
                .into(),
        );
    }
    (
        place,
        chain,
        "check the host and port in DATABASE_URL and that the server accepts connections from \
         here (firewall, security group, listen_addresses)"
            .into(),
    )
}
