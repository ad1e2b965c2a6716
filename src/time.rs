//! Time as the feed writes it: a UTC instant with microsecond precision.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A UTC instant with microsecond precision (PostgreSQL's `timestamptz` precision).
///
/// It is written as RFC 3339 with `Z` and exactly six fractional digits,
/// `2026-01-22T04:00:00.000000Z`, so that its text sorts like its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 0001-01-01T00:00:00.000000Z, the first instant that prints as RFC 3339.
    pub const MIN_MICROS: i64 = -62_135_596_800_000_000;
    /// 9999-12-31T23:59:59.999999Z, the last one.
    pub const MAX_MICROS: i64 = 253_402_300_799_999_999;

    /// An instant computed by the program (a window's start, a bucket's): clamped to years 1 to
    /// 9999, so that a `Timestamp` always prints. Values read from outside go through
    /// [`Timestamp::try_from_micros`] or [`Timestamp::parse`], which refuse what is outside.
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros.clamp(Self::MIN_MICROS, Self::MAX_MICROS))
    }

    /// `None` outside years 1 to 9999.
    pub fn try_from_micros(micros: i64) -> Option<Timestamp> {
        Self::is_printable(micros).then_some(Timestamp(micros))
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// Whether these microseconds since the epoch fall in years 1 to 9999, the instants that
    /// print as RFC 3339.
    pub fn is_printable(micros: i64) -> bool {
        (Self::MIN_MICROS..=Self::MAX_MICROS).contains(&micros)
    }

    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).expect("years 1 to 9999 are within chrono's range")
    }

    /// Parses RFC 3339 with any offset (`Z`, `+00:00`, `+02:00`), a space instead of `T`, or a
    /// bare date (midnight UTC). Digits beyond microseconds are truncated.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let text = text.trim();
        let parsed = DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
            });
        match parsed {
            // Only instants that print back as RFC 3339: a cursor read is a cursor that saves.
            Ok(t) if Timestamp::is_printable(t.timestamp_micros()) => {
                Ok(Timestamp(t.timestamp_micros()))
            }
            Ok(_) => Err(TimestampError::OutOfRange(text.to_owned())),
            Err(_) => Err(TimestampError::NotATimestamp(text.to_owned())),
        }
    }
}

/// Why a text is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("`{0}` is not a timestamp; expected RFC 3339 such as 2026-01-22T04:00:00Z")]
    NotATimestamp(String),
    #[error("`{0}` is outside the years 1 to 9999; expected RFC 3339 such as 2026-01-22T04:00:00Z")]
    OutOfRange(String),
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .to_datetime()
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Accepts only the exported form: `Z` and exactly six fractional digits.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let exact = text.len() == 27
            && text.ends_with('Z')
            && text.as_bytes()[19] == b'.'
            && text.as_bytes()[10] == b'T';
        if !exact {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is not a createdAt like 2026-01-22T04:00:00.000000Z"
            )));
        }
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_with_six_digits_and_z() {
        // Found by fuzzing: a year before 1 parsed, then printed as text that did not parse.
        assert!(Timestamp::parse("-1-11-1").is_err());
        assert!(Timestamp::parse("0001-01-01").is_ok());
        assert_eq!(
            Timestamp::from_micros(i64::MAX).to_string(),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            Timestamp::from_micros(i64::MIN).to_string(),
            "0001-01-01T00:00:00.000000Z"
        );
        assert!(Timestamp::try_from_micros(Timestamp::MAX_MICROS + 1).is_none());
        let t = Timestamp::parse("2026-01-22T04:00:00+00:00").unwrap();
        assert_eq!(t.to_string(), "2026-01-22T04:00:00.000000Z");
        let t = Timestamp::parse("2026-01-22 06:00:00.123456789+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-01-22T04:00:00.123456Z");
        assert_eq!(
            Timestamp::parse("2026-01-22").unwrap().to_string(),
            "2026-01-22T00:00:00.000000Z"
        );
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn created_at_must_be_in_the_exported_form_when_read_back() {
        assert!(serde_json::from_str::<Timestamp>("\"2026-01-22T04:00:00Z\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"2026-01-22T04:00:00.000000Z\"").is_ok());
    }
}
