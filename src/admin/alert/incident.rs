//! When the feed is in trouble, and what Slack was last told about it — pure, so every
//! transition is unit-tested with injected times.
//!
//! An incident is what the card shows when it is not healthy: **stale** (no run within
//! `--stale-after-minutes`), **failing** (the last run failed or was interrupted), **behind**
//! (rows after the cursor older than `--alert-behind-minutes`), or the status **unreadable**
//! (for three polls in a row, so one failed read does not page anyone). Slack is told once when
//! an incident starts, once when it turns into another, and once when the feed recovers; a
//! message that could not be delivered is tried again at the next poll.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::admin::view::{Card, Health};

/// The kinds of incident, as the state file names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Stale,
    Failing,
    Behind,
    Unreadable,
}

impl Kind {
    /// The card's health it is.
    pub fn health(self) -> Health {
        match self {
            Kind::Stale => Health::Stale,
            Kind::Failing => Health::Failing,
            Kind::Behind => Health::Behind,
            Kind::Unreadable => Health::Unreadable,
        }
    }

    /// The card's badge for it.
    pub fn label(self) -> &'static str {
        self.health().label()
    }

    /// The runbook section an on-call engineer reads first.
    pub fn runbook_anchor(self) -> &'static str {
        match self {
            Kind::Failing => "docs/runbook.md#when-a-run-fails",
            Kind::Stale => "docs/runbook.md#no-runs-at-all--stale-status",
            Kind::Behind | Kind::Unreadable => "docs/runbook.md#admin-page-the-cards-health",
        }
    }
}

/// An incident as the card shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub kind: Kind,
    /// The card's words: its warning, or the failure and its error line.
    pub says: String,
}

/// The incident `card` shows, if any. Rows after the cursor count only once the oldest is
/// older than `behind_after`.
pub fn classify(card: &Card, behind_after: Duration, now: DateTime<Utc>) -> Option<Incident> {
    let incident = |kind, says: String| Some(Incident { kind, says });
    match card.health {
        Health::Stale => incident(Kind::Stale, card.stale_warning.clone().unwrap_or_default()),
        Health::Failing => {
            let failure = card.failure.as_ref()?;
            incident(
                Kind::Failing,
                format!("{} Error: {}", failure.summary, failure.error),
            )
        }
        Health::Behind => {
            let oldest = card
                .waiting
                .datetime
                .as_deref()
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())?;
            let age = (now - oldest.with_timezone(&Utc)).to_std().ok()?;
            (age > behind_after).then_some(())?;
            incident(
                Kind::Behind,
                card.behind_warning.clone().unwrap_or_default(),
            )
        }
        Health::Unreadable => incident(
            Kind::Unreadable,
            format!(
                "The status could not be read: {}",
                card.unreadable.clone().unwrap_or_default()
            ),
        ),
        Health::Healthy | Health::Future | Health::Unknown | Health::NeverRun => None,
    }
}

/// The incident Slack was last told about, kept across restarts in the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Told {
    pub kind: Kind,
    /// When Slack was told.
    pub at: DateTime<Utc>,
}

/// A message for Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An incident started, or turned into another (`was`).
    Started {
        incident: Incident,
        was: Option<Kind>,
    },
    /// The card is healthy again after `was`, told at `since`.
    Recovered { was: Kind, since: DateTime<Utc> },
}

/// Unreadable reads in a row before they are an incident.
pub const UNREADABLE_POLLS: u32 = 3;

/// Decides, poll after poll, what Slack must be told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watcher {
    /// What Slack believes now: `None` is healthy.
    pub told: Option<Told>,
    unreadable_in_a_row: u32,
}

impl Watcher {
    pub fn new(told: Option<Told>) -> Watcher {
        Watcher {
            told,
            unreadable_in_a_row: 0,
        }
    }

    /// What to tell Slack after a poll that saw `seen`; `None` when Slack already knows.
    /// Call [`Watcher::delivered`] once the message went out.
    pub fn observe(&mut self, seen: Option<Incident>) -> Option<Message> {
        let told = self.told.map(|t| t.kind);
        if seen.as_ref().map(|i| i.kind) == Some(Kind::Unreadable) {
            self.unreadable_in_a_row += 1;
            if self.unreadable_in_a_row < UNREADABLE_POLLS {
                return None;
            }
        } else {
            self.unreadable_in_a_row = 0;
        }
        match (seen, self.told) {
            (Some(incident), _) if Some(incident.kind) == told => None,
            (Some(incident), _) => Some(Message::Started {
                incident,
                was: told,
            }),
            (None, Some(told)) => Some(Message::Recovered {
                was: told.kind,
                since: told.at,
            }),
            (None, None) => None,
        }
    }

    /// `message` reached Slack at `now`.
    pub fn delivered(&mut self, message: &Message, now: DateTime<Utc>) {
        self.told = match message {
            Message::Started { incident, .. } => Some(Told {
                kind: incident.kind,
                at: now,
            }),
            Message::Recovered { .. } => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(kind: Kind) -> Option<Incident> {
        Some(Incident {
            kind,
            says: format!("{kind:?}"),
        })
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    /// Observes `seen` and delivers what it says at `now`.
    fn poll(watcher: &mut Watcher, seen: Option<Incident>, now: DateTime<Utc>) -> Option<Message> {
        let message = watcher.observe(seen);
        if let Some(message) = &message {
            watcher.delivered(message, now);
        }
        message
    }

    #[test]
    fn an_incident_is_told_once_then_its_recovery_once() {
        let mut watcher = Watcher::default();
        assert_eq!(poll(&mut watcher, None, at(0)), None);
        assert_eq!(
            poll(&mut watcher, seen(Kind::Stale), at(1)),
            Some(Message::Started {
                incident: seen(Kind::Stale).unwrap(),
                was: None
            })
        );
        for minute in 2..10 {
            assert_eq!(poll(&mut watcher, seen(Kind::Stale), at(minute)), None);
        }
        assert_eq!(
            poll(&mut watcher, None, at(10)),
            Some(Message::Recovered {
                was: Kind::Stale,
                since: at(1)
            })
        );
        assert_eq!(poll(&mut watcher, None, at(11)), None);
    }

    #[test]
    fn an_incident_turning_into_another_is_told_with_what_it_was() {
        let mut watcher = Watcher::default();
        poll(&mut watcher, seen(Kind::Failing), at(0));
        assert_eq!(
            poll(&mut watcher, seen(Kind::Stale), at(1)),
            Some(Message::Started {
                incident: seen(Kind::Stale).unwrap(),
                was: Some(Kind::Failing)
            })
        );
    }

    #[test]
    fn a_message_that_was_not_delivered_is_tried_again_at_the_next_poll() {
        let mut watcher = Watcher::default();
        assert!(watcher.observe(seen(Kind::Failing)).is_some());
        // Slack did not answer: nothing was recorded as told.
        let again = watcher.observe(seen(Kind::Failing)).unwrap();
        watcher.delivered(&again, at(2));
        assert_eq!(watcher.observe(seen(Kind::Failing)), None);
    }

    #[test]
    fn a_restart_with_the_state_it_saved_does_not_tell_the_same_incident_again() {
        let mut before = Watcher::default();
        poll(&mut before, seen(Kind::Failing), at(0));
        let saved = serde_json::to_string(&before.told).unwrap();
        let mut after = Watcher::new(serde_json::from_str(&saved).unwrap());
        assert_eq!(poll(&mut after, seen(Kind::Failing), at(5)), None);
        assert!(matches!(
            poll(&mut after, None, at(6)),
            Some(Message::Recovered {
                was: Kind::Failing,
                ..
            })
        ));
    }

    #[test]
    fn the_status_must_stay_unreadable_for_three_polls_to_be_an_incident() {
        let mut watcher = Watcher::default();
        assert_eq!(poll(&mut watcher, seen(Kind::Unreadable), at(0)), None);
        assert_eq!(poll(&mut watcher, None, at(1)), None);
        assert_eq!(poll(&mut watcher, seen(Kind::Unreadable), at(2)), None);
        assert_eq!(poll(&mut watcher, seen(Kind::Unreadable), at(3)), None);
        assert!(poll(&mut watcher, seen(Kind::Unreadable), at(4)).is_some());
        assert_eq!(poll(&mut watcher, seen(Kind::Unreadable), at(5)), None);
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use crate::admin::config::TriggerSetting;
    use crate::admin::source::Snapshot;
    use crate::status::{Status, Unreadable};

    fn parse(bytes: &[u8]) -> Result<Status, Unreadable> {
        Status::parse(bytes)
    }
    use crate::admin::view::{CardSettings, card};

    const HOUR: Duration = Duration::from_secs(3600);

    fn classify_at(json: &str, now: &str) -> Option<Incident> {
        let snapshot = Snapshot::for_tests(parse(json.as_bytes()).map_err(|e| Unreadable(e.0)));
        let trigger = TriggerSetting::Missing(vec![]);
        let settings = CardSettings {
            archive_dir: None,
            stale_after: 2 * HOUR,
            cache_ttl: Duration::ZERO,
            workflow_override: None,
            trigger: &trigger,
            source: None,
        };
        let now = DateTime::parse_from_rfc3339(now).unwrap().to_utc();
        classify(&card(&snapshot, &settings, now), 2 * HOUR, now)
    }

    fn v2(extra: &str) -> String {
        format!(
            r#"{{"version": 2, "outcome": "success", "rows": 842,
                "updatedAt": "2026-01-22T04:05:09Z", "pendingRows": 0 {extra}}}"#
        )
    }

    #[test]
    fn what_the_card_shows_is_the_incident() {
        let now = "2026-01-22T04:17:00Z";
        assert_eq!(classify_at(&v2(""), now), None);
        let stale = classify_at(&v2(""), "2026-01-22T08:00:00Z").unwrap();
        assert_eq!(stale.kind, Kind::Stale);
        assert!(stale.says.contains("3 h 54 min ago"), "{}", stale.says);
        let failing = classify_at(
            &v2(r#", "outcome": "failed", "error": "the webhook answered 500""#),
            now,
        )
        .unwrap();
        assert_eq!(failing.kind, Kind::Failing);
        assert!(
            failing.says.ends_with("Error: the webhook answered 500"),
            "{}",
            failing.says
        );
        let garbage = classify_at("not json", now).unwrap();
        assert_eq!(garbage.kind, Kind::Unreadable);
    }

    #[test]
    fn rows_waiting_are_an_incident_only_once_the_oldest_is_older_than_the_threshold() {
        let now = "2026-01-22T04:17:00Z";
        let young = v2(r#", "pendingRows": 1200, "oldestPendingAt": "2026-01-22T03:17:00Z""#);
        assert_eq!(classify_at(&young, now), None);
        let old = v2(r#", "pendingRows": 1200, "oldestPendingAt": "2026-01-22T02:00:00Z""#);
        let behind = classify_at(&old, now).unwrap();
        assert_eq!(behind.kind, Kind::Behind);
        assert!(behind.says.contains("1,200"), "{}", behind.says);
    }
}
