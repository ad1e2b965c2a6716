//! Slowing down password guessing without locking out the real ops user.
//!
//! Failures are counted per client (see [`crate::admin::client`] for which address that is):
//! [`Policy::free_failures`] in a row are allowed at once; after that many, and after each
//! further one, the client must wait — [`Policy::first_delay`], then twice as long each time up
//! to [`Policy::max_delay`] — before its next attempt is even checked. A client that has not failed is never made to wait
//! by another one, except by the global ceiling ([`Policy::global_per_minute`]), far above what
//! one person mistyping produces, which bounds the guesses of an attacker with many addresses.
//!
//! Memory is bounded: a client is forgotten once it has not failed for [`Policy::forget_after`],
//! and the table holds at most [`Policy::max_clients`] (the client that failed longest ago makes
//! room). Time is passed in, so every rule is unit-tested without sleeping.
//!
//! Written by hand: governor limits a rate (requests per period, GCRA); this is a delay that
//! grows with one client's consecutive failures and ends with its first success, which a rate
//! limiter does not express.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The throttle's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures a client may make in a row; after the last of them it has to wait.
    pub free_failures: u32,
    /// The wait after the first failure beyond the free ones; it doubles with each further one.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A client that has not failed for this long starts afresh.
    pub forget_after: Duration,
    pub max_clients: usize,
    /// Failures per minute, from all clients together, after which every login waits.
    pub global_per_minute: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::DEFAULT
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    /// No attempt of this client is checked before then.
    wait_until: Instant,
}

/// Failed logins by client, and of all clients in the last minute.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: Policy,
    clients: HashMap<IpAddr, Record>,
    /// The times of the last minute's failures, at most `global_per_minute` of them.
    recent: VecDeque<Instant>,
}

impl Default for LoginThrottle {
    fn default() -> LoginThrottle {
        LoginThrottle::new(Policy::default())
    }
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> LoginThrottle {
        LoginThrottle {
            policy,
            clients: HashMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// `Err(wait)`: `client` must not have its password checked before `wait` has passed.
    pub fn admit(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let client = bucket(client);
        if let Some(record) = self.clients.get(&client)
            && record.wait_until > now
        {
            return Err(record.wait_until - now);
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.policy.global_per_minute
            && let Some(oldest) = self.recent.front()
        {
            return Err((*oldest + MINUTE).saturating_duration_since(now));
        }
        Ok(())
    }

    /// Counts a wrong password from `client`; returns how long it must now wait (zero while its
    /// failures are free).
    pub fn failed(&mut self, client: IpAddr, now: Instant) -> Duration {
        let client = bucket(client);
        self.recent.push_back(now);
        if self.recent.len() > self.policy.global_per_minute {
            self.recent.pop_front();
        }
        if !self.clients.contains_key(&client) {
            self.make_room(now);
        }
        let policy = self.policy;
        let record = self.clients.entry(client).or_insert(Record {
            failures: 0,
            last_failure: now,
            wait_until: now,
        });
        if now.saturating_duration_since(record.last_failure) >= policy.forget_after {
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        let wait = policy.delay(record.failures);
        record.wait_until = now + wait;
        wait
    }

    /// A right password: the client's failures are forgiven.
    pub fn succeeded(&mut self, client: IpAddr) {
        self.clients.remove(&bucket(client));
    }

    /// Clients in the table (for tests of its bound).
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    fn make_room(&mut self, now: Instant) {
        if self.clients.len() < self.policy.max_clients {
            return;
        }
        let forget_after = self.policy.forget_after;
        self.clients.retain(|_, r| {
            r.wait_until > now || now.saturating_duration_since(r.last_failure) < forget_after
        });
        if self.clients.len() >= self.policy.max_clients
            && let Some(oldest) = self
                .clients
                .iter()
                .min_by_key(|(_, r)| r.last_failure)
                .map(|(ip, _)| *ip)
        {
            self.clients.remove(&oldest);
        }
    }
}

impl Policy {
    /// Ten failures in a row, then 1 s, 2 s, 4 s … up to 10 minutes between attempts; a client is
    /// forgotten after an hour without failing; 10 000 clients at most; 1000 failures a minute
    /// from everyone together.
    pub const DEFAULT: Policy = Policy {
        free_failures: 10,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(10 * 60),
        forget_after: Duration::from_secs(3600),
        max_clients: 10_000,
        global_per_minute: 1000,
    };

    /// The wait after a client's `failures`-th failure.
    pub fn delay(&self, failures: u32) -> Duration {
        let Some(beyond) = failures.checked_sub(self.free_failures.max(1)) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(beyond.min(31)).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// The key a client is counted under: its IPv4 address, or the /64 network of an IPv6 one
/// (one host usually has a whole /64 to pick addresses from).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
    const OPS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn free_failures_cost_nothing_and_later_ones_double_the_wait_up_to_the_cap() {
        let policy = Policy::default();
        assert_eq!(policy.delay(1), Duration::ZERO);
        assert_eq!(policy.delay(9), Duration::ZERO);
        assert_eq!(policy.delay(10), secs(1));
        assert_eq!(policy.delay(11), secs(2));
        assert_eq!(policy.delay(14), secs(16));
        assert_eq!(policy.delay(19), secs(512));
        assert_eq!(policy.delay(20), secs(600));
        assert_eq!(policy.delay(u32::MAX), secs(600));
    }

    #[test]
    fn a_failing_client_waits_longer_each_time_and_others_are_not_held_up() {
        let mut throttle = LoginThrottle::default();
        let start = Instant::now();
        let mut now = start;
        for _ in 0..9 {
            assert_eq!(throttle.admit(ATTACKER, now), Ok(()));
            assert_eq!(throttle.failed(ATTACKER, now), Duration::ZERO);
        }
        let mut waits = Vec::new();
        for _ in 0..5 {
            assert_eq!(throttle.admit(ATTACKER, now), Ok(()));
            let wait = throttle.failed(ATTACKER, now);
            // Trying again before the wait is over is not checked (and does not count).
            assert_eq!(throttle.admit(ATTACKER, now), Err(wait));
            assert_eq!(
                throttle.admit(ATTACKER, now + wait / 2),
                Err(wait - wait / 2)
            );
            assert_eq!(throttle.admit(OPS, now), Ok(()));
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits, [secs(1), secs(2), secs(4), secs(8), secs(16)]);
        // The right password from the attacking address forgives it.
        throttle.succeeded(ATTACKER);
        assert_eq!(throttle.admit(ATTACKER, now), Ok(()));
        assert_eq!(throttle.failed(ATTACKER, now), Duration::ZERO);
    }

    #[test]
    fn a_client_that_stops_failing_is_forgotten() {
        let mut throttle = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..12 {
            throttle.failed(ATTACKER, now);
        }
        assert!(throttle.admit(ATTACKER, now).is_err());
        let later = now + secs(3600);
        assert_eq!(throttle.admit(ATTACKER, later), Ok(()));
        assert_eq!(throttle.failed(ATTACKER, later), Duration::ZERO, "afresh");
    }

    #[test]
    fn addresses_of_one_ipv6_network_count_as_one_client() {
        let mut throttle = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..10u16 {
            let ip = IpAddr::V6([0x2001, 0xdb8, 0, 1, i, i, i, i].into());
            throttle.failed(ip, now);
        }
        let fresh = IpAddr::V6([0x2001, 0xdb8, 0, 1, 0xffff, 0, 0, 1].into());
        assert_eq!(throttle.admit(fresh, now), Err(secs(1)));
        let other_network = IpAddr::V6([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1].into());
        assert_eq!(throttle.admit(other_network, now), Ok(()));
    }

    #[test]
    fn many_addresses_together_hit_the_global_ceiling_for_a_minute() {
        let policy = Policy {
            global_per_minute: 50,
            ..Policy::default()
        };
        let mut throttle = LoginThrottle::new(policy);
        let start = Instant::now();
        for i in 0..50u32 {
            let ip = IpAddr::V4((0x0a00_0000 + i).into());
            let at = start + Duration::from_millis(u64::from(i) * 100);
            assert_eq!(throttle.admit(ip, at), Ok(()));
            throttle.failed(ip, at);
        }
        let at = start + secs(5);
        assert_eq!(throttle.admit(OPS, at), Err(secs(55)));
        // Once the first failure is a minute old, there is room again.
        assert_eq!(throttle.admit(OPS, start + secs(60)), Ok(()));
    }

    #[test]
    fn the_table_never_holds_more_than_its_cap() {
        let policy = Policy {
            max_clients: 100,
            ..Policy::default()
        };
        let mut throttle = LoginThrottle::new(policy);
        let start = Instant::now();
        for i in 0..1000u32 {
            let at = start + Duration::from_millis(u64::from(i));
            throttle.failed(IpAddr::V4((0x0a00_0000 + i).into()), at);
            assert!(throttle.clients() <= 100);
        }
        // The newest clients are the ones kept.
        let newest = IpAddr::V4((0x0a00_0000 + 999).into());
        for _ in 0..9 {
            throttle.failed(newest, start + secs(1));
        }
        assert!(throttle.admit(newest, start + secs(1)).is_err());
    }
}
