//! PostgreSQL connection strings as libpq reads them: the `postgresql://` URI and the
//! `key=value` form, with the `PG*` environment variables as fallbacks.
//!
//! tokio-postgres parses both forms too, but it rejects libpq's `verify-ca`, `verify-full`,
//! `sslrootcert`, `sslcert` and `sslkey`, and it cannot say *where* a URL went wrong without
//! printing it. This parser keeps libpq's keywords as they are, so that every URL that works
//! with `psql` works here, and its errors never quote a password.

use std::collections::BTreeMap;

/// Why a connection string cannot be used. No variant carries the password or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnInfoError {
    #[error(
        "DATABASE_URL holds an `@`, `/`, `?` or `#` that is not percent-encoded before the host \
         (in the user name or the password). Percent-encode them: `@` as %40, `/` as %2F, \
         `?` as %3F, `#` as %23 (and `%` itself as %25), e.g. \
         python3 -c 'import urllib.parse,getpass; print(urllib.parse.quote(getpass.getpass(), safe=\"\"))'"
    )]
    UnescapedCredentials,
    #[error(
        "DATABASE_URL has a `%` in the {part} that does not start a percent-encoded byte \
         (`%` followed by two hex digits). Write a literal `%` as %25"
    )]
    BadPercent { part: &'static str },
    #[error("DATABASE_URL: {0}")]
    Syntax(String),
    #[error(
        "DATABASE_URL: `{0}` is not a PostgreSQL connection parameter. \
         See https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS"
    )]
    UnknownKeyword(String),
    #[error("DATABASE_URL: `{key}` is not supported by guardrail-followups: {why}")]
    Unsupported { key: String, why: &'static str },
}

impl ConnInfoError {
    /// `key=value` is not valid; `expected` says what is.
    pub fn invalid(key: &str, value: &str, expected: &str) -> ConnInfoError {
        ConnInfoError::Syntax(format!("`{key}={value}` is not valid: {expected}"))
    }
}

/// libpq keywords and their values, as written in the connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnInfo {
    params: BTreeMap<String, String>,
}

/// The keywords libpq knows (PostgreSQL 17). The ones this program cannot honour are refused
/// by name in [`ConnInfo::check_supported`].
const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "requiressl",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "require_auth",
];

/// Environment variables libpq reads when the connection string does not set the keyword.
pub const ENV_FALLBACKS: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGREQUIRESSL", "requiressl"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLSNI", "sslsni"),
    ("PGSSLMINPROTOCOLVERSION", "ssl_min_protocol_version"),
    ("PGSSLMAXPROTOCOLVERSION", "ssl_max_protocol_version"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
];

impl ConnInfo {
    /// Reads a `postgres://` / `postgresql://` URI or a `key=value …` string.
    pub fn parse(text: &str) -> Result<ConnInfo, ConnInfoError> {
        let text = text.trim();
        let info = match text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
        {
            Some(rest) => parse_uri(rest)?,
            None => parse_key_values(text)?,
        };
        info.check_supported()?;
        Ok(info)
    }

    /// Whether `text` looks like a libpq connection string rather than some other URL.
    pub fn is_postgres(text: &str) -> bool {
        let text = text.trim_start();
        text.starts_with("postgres://")
            || text.starts_with("postgresql://")
            || (!text.contains("://") && text.contains('='))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// Fills in what the string leaves unset from the `PG*` variables, as libpq does. Empty
    /// variables count as unset.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConnInfoError> {
        for (var, key) in ENV_FALLBACKS {
            if self.params.contains_key(*key) {
                continue;
            }
            if let Some(value) = env(var).filter(|v| !v.is_empty()) {
                self.params.insert((*key).to_owned(), value);
            }
        }
        self.check_supported()?;
        Ok(self)
    }

    fn insert(&mut self, key: &str, value: String) -> Result<(), ConnInfoError> {
        // JDBC's `ssl=true`, which libpq also accepts in URIs.
        if key == "ssl" && value == "true" {
            self.params.insert("sslmode".into(), "require".into());
            return Ok(());
        }
        if !KEYWORDS.contains(&key) {
            return Err(ConnInfoError::UnknownKeyword(key.to_owned()));
        }
        self.params.insert(key.to_owned(), value);
        Ok(())
    }

    fn check_supported(&self) -> Result<(), ConnInfoError> {
        let refuse = |key: &str, why| {
            Err(ConnInfoError::Unsupported {
                key: key.to_owned(),
                why,
            })
        };
        for (key, value) in &self.params {
            match (key.as_str(), value.as_str()) {
                ("sslpassword", _) => {
                    return refuse(
                        key,
                        "decrypt the key once (openssl pkey -in client.key -out client-plain.key) \
                         and give that file, readable only by this user, as sslkey",
                    );
                }
                ("sslcrl" | "sslcrldir", _) => {
                    return refuse(
                        key,
                        "certificate revocation lists are not checked; remove it (the server's \
                         certificate is still verified against sslrootcert)",
                    );
                }
                ("service", _) => {
                    return refuse(
                        key,
                        "pg_service.conf is not read; write the service's parameters into DATABASE_URL",
                    );
                }
                ("replication", v) if !matches!(v, "0" | "off" | "false" | "no") => {
                    return refuse(key, "the exporter reads with ordinary queries; remove it");
                }
                ("gssencmode", "require") | ("gsslib" | "krbsrvname" | "gssdelegation", _) => {
                    return refuse(key, "GSSAPI (Kerberos) is not available; use TLS instead");
                }
                ("requirepeer" | "require_auth", _) => {
                    return refuse(key, "remove it; the server's own pg_hba.conf still applies");
                }
                ("sslcertmode", "require") => {
                    return refuse(
                        key,
                        "give sslcert and sslkey instead: the certificate is always sent when given",
                    );
                }
                ("client_encoding", v)
                    if !v.eq_ignore_ascii_case("utf8") && !v.eq_ignore_ascii_case("utf-8") =>
                {
                    return refuse(key, "the exporter always reads UTF8; remove it");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `[user[:password]@][host][:port][,…][/dbname][?key=value&…]`, after the scheme.
fn parse_uri(rest: &str) -> Result<ConnInfo, ConnInfoError> {
    let mut info = ConnInfo::default();
    let mut rest = rest;
    if let Some(at) = rest.rfind('@') {
        let userinfo = &rest[..at];
        if userinfo.contains(['@', '/', '?', '#']) {
            return Err(ConnInfoError::UnescapedCredentials);
        }
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            info.insert("user", decode(user, "user name")?)?;
        }
        if let Some(password) = password {
            info.insert("password", decode(password, "password")?)?;
        }
        rest = &rest[at + 1..];
    } else if rest.contains('#') {
        return Err(ConnInfoError::Syntax(
            "`#` is not allowed in a connection URI; percent-encode it as %23".into(),
        ));
    }
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hostspec, rest) = rest.split_at(host_end);
    parse_hostspec(&mut info, hostspec)?;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let dbname = path.strip_prefix('/').unwrap_or(path);
    if !dbname.is_empty() {
        info.insert("dbname", decode(dbname, "database name")?)?;
    }
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let Some((key, value)) = pair.split_once('=') else {
            return Err(ConnInfoError::Syntax(format!(
                "the parameter `{}` has no value (write key=value)",
                decode(pair, "parameters").unwrap_or_default()
            )));
        };
        let key = decode(key, "parameters")?;
        let value = decode(value, "parameters")?;
        info.insert(&key, value)?;
    }
    Ok(info)
}

/// `host[:port]` entries separated by commas; an IPv6 address goes in brackets.
fn parse_hostspec(info: &mut ConnInfo, spec: &str) -> Result<(), ConnInfoError> {
    if spec.is_empty() {
        return Ok(());
    }
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for entry in spec.split(',') {
        let (host, port) = if let Some(inner) = entry.strip_prefix('[') {
            let Some((host, after)) = inner.split_once(']') else {
                return Err(ConnInfoError::Syntax(
                    "an IPv6 address in the host is missing its closing `]`".into(),
                ));
            };
            let port = match after {
                "" => "",
                p => p.strip_prefix(':').ok_or_else(|| {
                    ConnInfoError::Syntax("unexpected text after an IPv6 address".into())
                })?,
            };
            (host.to_owned(), port)
        } else {
            match entry.rsplit_once(':') {
                Some((host, port)) => (decode(host, "host")?, port),
                None => (decode(entry, "host")?, ""),
            }
        };
        if !port.is_empty() && port.parse::<u16>().is_err() {
            return Err(ConnInfoError::Syntax(format!(
                "`{port}` is not a port number (the host part reads `host:port`)"
            )));
        }
        hosts.push(host);
        ports.push(port.to_owned());
    }
    if hosts.iter().any(|h| !h.is_empty()) {
        info.insert("host", hosts.join(","))?;
    }
    if ports.iter().any(|p| !p.is_empty()) {
        info.insert("port", ports.join(","))?;
    }
    Ok(())
}

/// Percent-decoding that refuses a `%` not followed by two hex digits, as libpq does.
fn decode(text: &str, part: &'static str) -> Result<String, ConnInfoError> {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(ConnInfoError::BadPercent { part });
        }
    }
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| {
            ConnInfoError::Syntax(format!("the {part} is not valid UTF-8 once decoded"))
        })?;
    if decoded.contains('\0') {
        return Err(ConnInfoError::Syntax(format!("the {part} holds %00")));
    }
    Ok(decoded.into_owned())
}

/// `key = value …`, values bare or in single quotes with `\'` and `\\`, as libpq reads them.
fn parse_key_values(text: &str) -> Result<ConnInfo, ConnInfoError> {
    let mut info = ConnInfo::default();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConnInfoError::Syntax(format!(
                "missing `=` after `{key}` (the connection string reads `key=value key=value`, \
                 or use a postgres:// URL)"
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => break,
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConnInfoError::Syntax(format!(
                            "the quoted value of `{key}` has no closing `'`"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        info.insert(&key, value)?;
    }
    Ok(info)
}
