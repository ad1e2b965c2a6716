//! Connections per client address, so that one address cannot hold the whole connection cap
//! (nginx's `limit_conn`). A client is an IPv4 address or an IPv6 /64 (one host's usual
//! allocation, so that one machine cannot take a fresh address per connection). Trusted proxies
//! are not counted: every client behind one shares its address, and the proxy limits them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use crate::server::proxy::canonical;

/// The address a per-client limit is kept under.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Counts of open connections by client.
#[derive(Debug)]
pub struct ClientConnections {
    max_per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    clients: Arc<ClientConnections>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().expect("not poisoned");
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl ClientConnections {
    pub fn new(max_per_client: usize) -> Arc<ClientConnections> {
        Arc::new(ClientConnections {
            max_per_client: max_per_client.max(1),
            open: Mutex::default(),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when that client already has its
    /// limit open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().expect("not poisoned");
        let n = open.entry(key).or_insert(0);
        if *n >= self.max_per_client {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: Arc::clone(self),
            key,
        })
    }

    /// Clients with a connection open.
    pub fn clients(&self) -> usize {
        self.open.lock().expect("not poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_at_its_limit_is_refused_while_others_are_not_and_a_closed_slot_frees_one() {
        let clients = ClientConnections::new(2);
        let a1 = clients.admit(ip("127.0.0.2")).unwrap();
        let _a2 = clients.admit(ip("::ffff:127.0.0.2")).unwrap();
        assert!(clients.admit(ip("127.0.0.2")).is_none());
        let _b = clients.admit(ip("127.0.0.1")).unwrap();
        drop(a1);
        assert!(clients.admit(ip("127.0.0.2")).is_some());
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_forgotten_when_its_last_connection_closes() {
        let clients = ClientConnections::new(1);
        let slot = clients.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(clients.admit(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(clients.admit(ip("2001:db8:1:3::1")).is_some());
        drop(slot);
        assert_eq!(clients.clients(), 0);
    }
}
