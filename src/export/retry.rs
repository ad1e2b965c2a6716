//! Retry policy for deliveries: which outcomes are worth another attempt, and how long to wait.
//! Transport code asks [`classify_status`] / [`classify_error`]; it never decides on its own.

use std::time::{Duration, SystemTime};

use rand::RngExt;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Delivered.
    Delivered,
    /// Worth another attempt; the receiver may say when (`Retry-After`).
    Retry { after: Option<Duration> },
    /// The receiver refused the batch: retrying cannot help.
    Refused,
}

/// The longest `Retry-After` honoured; a receiver asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// 2xx delivers; 408, 429 and 5xx other than 501 are retried; anything else is refused.
pub fn classify_status(status: StatusCode, retry_after: Option<&HeaderValue>) -> Decision {
    if status.is_success() {
        return Decision::Delivered;
    }
    let transient = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED);
    if transient {
        Decision::Retry {
            after: retry_after.and_then(parse_retry_after),
        }
    } else {
        Decision::Refused
    }
}

/// Transport failures (connection refused or reset, timeouts, a broken response) are retried;
/// a request that cannot even be built is not.
pub fn classify_error(error: &reqwest::Error) -> Decision {
    if error.is_builder() || error.is_redirect() {
        Decision::Refused
    } else {
        Decision::Retry { after: None }
    }
}

/// `Retry-After` as delay-seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    let delay = if let Ok(seconds) = text.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let when = httpdate::parse_http_date(text).ok()?;
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter: retry `n` waits a random time between half and all of
/// `min(cap, base * 2^n)`, so that many exporters retrying at once spread out.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(20))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis.max(1)))
    }

    /// The wait before retry number `retry`: the backoff, or longer when the receiver's
    /// `Retry-After` asks for more.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.delay(retry);
        retry_after.map_or(backoff, |after| after.max(backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses_are_retried_and_the_rest_refused() {
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify_status(status, None), Decision::Retry { .. }),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 413, 422, 501] {
            assert_eq!(
                classify_status(StatusCode::from_u16(code).unwrap(), None),
                Decision::Refused,
                "{code}"
            );
        }
        assert_eq!(
            classify_status(StatusCode::NO_CONTENT, None),
            Decision::Delivered
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_capped() {
        let after = |v: &str| parse_retry_after(&HeaderValue::from_str(v).unwrap());
        assert_eq!(after("2"), Some(Duration::from_secs(2)));
        assert_eq!(after("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(after("soon"), None);
        let status = StatusCode::TOO_MANY_REQUESTS;
        let header = HeaderValue::from_static("3");
        assert_eq!(
            classify_status(status, Some(&header)),
            Decision::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn retry_after_never_shortens_the_backoff() {
        let backoff = Backoff {
            base: Duration::from_millis(400),
            cap: Duration::from_secs(30),
        };
        for retry in 0..5 {
            let floor = Duration::from_millis(200 << retry);
            assert!(backoff.wait(retry, Some(Duration::ZERO)) >= floor);
            assert!(backoff.wait(retry, None) >= floor);
        }
        assert_eq!(
            backoff.wait(0, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn backoff_grows_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for retry in 0..10 {
            let delay = backoff.delay(retry);
            let ceiling = Duration::from_millis(100 << retry).min(Duration::from_secs(1));
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "retry {retry}: {delay:?}"
            );
        }
    }
}
