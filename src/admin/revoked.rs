//! Sessions that were signed out before their cookie expires.
//!
//! The cookie is stateless, so signing out cannot take it back from the browser (or from
//! whoever copied it): this server remembers the ids it signed out, until their own expiry,
//! and refuses them. The list lives in memory: it is this process's, gone on restart, and not
//! shared between replicas. It is bounded: when it is full of unexpired sessions, every session
//! issued until then is refused instead, so overflowing it signs everybody out rather than
//! letting a signed-out cookie back in.

use std::collections::HashMap;

/// Signed-out sessions by id, each with the expiry of its cookie (Unix seconds).
#[derive(Debug)]
pub struct Revocations {
    max: usize,
    ids: HashMap<String, i64>,
    /// Sessions issued before this (Unix seconds) are refused.
    not_before: i64,
}

impl Default for Revocations {
    fn default() -> Revocations {
        Revocations::new(10_000)
    }
}

impl Revocations {
    pub fn new(max: usize) -> Revocations {
        Revocations {
            max,
            ids: HashMap::new(),
            not_before: i64::MIN,
        }
    }

    /// Signs out session `id`, whose cookie expires at `expires`.
    pub fn revoke(&mut self, id: &str, expires: i64, now: i64) {
        if expires <= now {
            return;
        }
        if self.ids.len() >= self.max {
            self.ids.retain(|_, e| *e > now);
        }
        if self.ids.len() >= self.max {
            // Forgetting one would let its cookie back in: refuse everything issued so far.
            self.ids.clear();
            self.not_before = now + 1;
            return;
        }
        self.ids.insert(id.to_owned(), expires);
    }

    /// Whether session `id`, issued at `issued`, was signed out.
    pub fn is_revoked(&self, id: &str, issued: i64) -> bool {
        issued < self.not_before || self.ids.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_out_session_stays_refused_until_it_expires_and_is_then_forgotten() {
        let mut revoked = Revocations::new(3);
        revoked.revoke("a", 100, 10);
        assert!(revoked.is_revoked("a", 5));
        assert!(!revoked.is_revoked("b", 5));
        // An expired cookie is refused anyway; it takes no room.
        revoked.revoke("old", 10, 10);
        assert_eq!(revoked.len(), 1);
        revoked.revoke("b", 50, 20);
        revoked.revoke("c", 50, 20);
        // Full: the expired entries make room.
        revoked.revoke("d", 200, 60);
        assert_eq!(revoked.len(), 2);
        assert!(revoked.is_revoked("a", 5) && revoked.is_revoked("d", 5));
        assert!(!revoked.is_revoked("b", 5));
    }

    #[test]
    fn overflowing_the_list_signs_everybody_out_instead_of_forgetting_one() {
        let mut revoked = Revocations::new(2);
        revoked.revoke("a", 1000, 10);
        revoked.revoke("b", 1000, 10);
        revoked.revoke("c", 1000, 20);
        for id in ["a", "b", "c", "never-signed-out"] {
            assert!(revoked.is_revoked(id, 20), "{id}");
        }
        // A session issued afterwards works.
        assert!(!revoked.is_revoked("new", 21));
        assert!(revoked.is_empty());
    }
}
