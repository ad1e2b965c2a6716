//! Sessions that were signed out before their cookie expires.
//!
//! The cookie is stateless, so signing out cannot take it back from the browser (or from
//! whoever copied it): this server remembers the ids it signed out, until their own expiry,
//! and refuses them. The list lives in memory: it is this process's, gone on restart, and not
//! shared between replicas. It is bounded: when it is full of unexpired sessions, the oldest
//! quarter of it (by expiry, so by sign-in time: every cookie lives as long) is replaced by a
//! cut-off that refuses every session expiring no later than the newest of them. So the
//! signed-out cookies stay refused, only sessions signed in before those are signed out with
//! them, and sessions signed in since — a login in the same second included, unless three
//! quarters of the list were signed out within that second — keep working.

use std::collections::HashMap;

/// Signed-out sessions by id, each with the expiry of its cookie (Unix seconds).
#[derive(Debug)]
pub struct Revocations {
    max: usize,
    ids: HashMap<String, i64>,
    /// Sessions whose cookie expires at or before this (Unix seconds) are refused.
    expiring_by: i64,
}

impl Default for Revocations {
    fn default() -> Revocations {
        Revocations::new(10_000)
    }
}

impl Revocations {
    pub fn new(max: usize) -> Revocations {
        Revocations {
            max: max.max(1),
            ids: HashMap::new(),
            expiring_by: i64::MIN,
        }
    }

    /// Signs out session `id`, whose cookie expires at `expires`.
    pub fn revoke(&mut self, id: &str, expires: i64, now: i64) {
        if expires <= now || expires <= self.expiring_by {
            return;
        }
        if self.ids.len() >= self.max {
            self.ids.retain(|_, e| *e > now);
        }
        if self.ids.len() >= self.max {
            // Forgetting one would let its cookie back in: refuse the oldest quarter, and
            // whatever was signed in before them, by their expiry instead.
            let mut expiries: Vec<i64> = self.ids.values().copied().collect();
            expiries.sort_unstable();
            let cut = expiries[(expiries.len() / 4).min(expiries.len() - 1)];
            self.expiring_by = self.expiring_by.max(cut);
            let by = self.expiring_by;
            self.ids.retain(|_, e| *e > by);
            if expires <= by {
                return;
            }
        }
        self.ids.insert(id.to_owned(), expires);
    }

    /// Whether session `id`, whose cookie expires at `expires`, was signed out.
    pub fn is_revoked(&self, id: &str, expires: i64) -> bool {
        expires <= self.expiring_by || self.ids.contains_key(id)
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
        assert!(revoked.is_revoked("a", 100));
        assert!(!revoked.is_revoked("b", 100));
        // An expired cookie is refused anyway; it takes no room.
        revoked.revoke("old", 10, 10);
        assert_eq!(revoked.len(), 1);
        revoked.revoke("b", 50, 20);
        revoked.revoke("c", 50, 20);
        // Full: the expired entries make room.
        revoked.revoke("d", 200, 60);
        assert_eq!(revoked.len(), 2);
        assert!(revoked.is_revoked("a", 100) && revoked.is_revoked("d", 200));
        assert!(!revoked.is_revoked("b", 100));
    }

    #[test]
    fn a_full_list_keeps_every_signed_out_session_refused_and_the_newer_sessions_working() {
        // 10,000 sign-outs of sessions signed in one a second, then one more.
        let mut revoked = Revocations::new(10_000);
        let lifetime = 12 * 3600;
        let now = 20_000;
        for i in 0..10_000 {
            revoked.revoke(&format!("s{i}"), 5_000 + i + lifetime, now);
        }
        revoked.revoke("s10000", 15_000 + lifetime, now);
        for i in 0..=10_000 {
            assert!(
                revoked.is_revoked(&format!("s{i}"), 5_000 + i + lifetime),
                "s{i}"
            );
        }
        // Sessions signed in after the oldest quarter of the list, and a login now, still work.
        assert!(!revoked.is_revoked("signed-in-later", 8_000 + lifetime));
        assert!(!revoked.is_revoked("login-now", now + lifetime));
        assert!(revoked.len() <= 10_000 * 3 / 4 + 1, "{}", revoked.len());
    }
}
