//! The servers a connection string names: hosts (names, addresses or socket folders) paired
//! with ports, tried in order.

use std::net::IpAddr;
use std::path::Path;

use super::conninfo::{ConnInfo, ConnInfoError};

/// One server to try: a host name, an IP address or a Unix socket folder, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub hostaddr: Option<IpAddr>,
    pub port: u16,
}

impl Target {
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/') && self.hostaddr.is_none()
    }

    /// `host:port` for messages.
    pub fn describe(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The servers to try, in order: hosts and ports pair up; one port applies to every host.
pub(super) fn targets(info: &ConnInfo) -> Result<Vec<Target>, ConnInfoError> {
    let split = |key| -> Vec<String> {
        info.get(key)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    };
    let hostaddrs: Vec<Option<IpAddr>> = split("hostaddr")
        .iter()
        .map(|a| {
            if a.is_empty() {
                Ok(None)
            } else {
                a.parse()
                    .map(Some)
                    .map_err(|_| ConnInfoError::invalid("hostaddr", a, "give an IP address"))
            }
        })
        .collect::<Result<_, _>>()?;
    let mut hosts = split("host");
    if hosts.is_empty() {
        hosts = vec![String::new(); hostaddrs.len().max(1)];
    }
    if !hostaddrs.is_empty() && hostaddrs.len() != hosts.len() {
        return Err(ConnInfoError::Syntax(
            "host and hostaddr list different numbers of servers".into(),
        ));
    }
    let ports = split("port");
    if ports.len() > 1 && ports.len() != hosts.len() {
        return Err(ConnInfoError::Syntax(
            "give one port for every host, or a single port for all of them".into(),
        ));
    }
    hosts
        .into_iter()
        .enumerate()
        .map(|(i, host)| {
            let hostaddr = hostaddrs.get(i).copied().flatten();
            let port = match ports.get(if ports.len() == 1 { 0 } else { i }) {
                Some(p) if !p.is_empty() => p
                    .parse()
                    .map_err(|_| ConnInfoError::invalid("port", p, "give a port number"))?,
                _ => 5432,
            };
            let host = match (host.is_empty(), hostaddr) {
                (false, _) => host,
                (true, Some(addr)) => addr.to_string(),
                (true, None) => default_socket_dir(),
            };
            Ok(Target {
                host,
                hostaddr,
                port,
            })
        })
        .collect()
}

/// libpq's default Unix socket folder: Debian's, else the upstream default.
pub(super) fn default_socket_dir() -> String {
    if Path::new("/var/run/postgresql").is_dir() {
        "/var/run/postgresql".into()
    } else {
        "/tmp".into()
    }
}
