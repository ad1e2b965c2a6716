//! The ops page watches the feed and tells Slack when it stops: it is the long-running
//! process, so it notices what no run can report — no run at all (the schedule dropped, the
//! timer's host down). Every poll it reads the status through the page's cache, decides the
//! card as a visitor would see it, and hands that to the [`incident::Watcher`]; what Slack was
//! last told is kept in a state file when one is configured, so a restart during an incident
//! does not tell it again. Off unless a Slack webhook is configured.

pub mod incident;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use url::Url;

use crate::admin::AdminState;
pub use crate::admin::config::AlertConfig;
use crate::admin::view;
use incident::{Kind, Message, Told, Watcher};

/// Polls the status every `config.poll` and tells Slack about incidents, forever.
pub async fn watch(state: Arc<AdminState>, config: AlertConfig) {
    let mut watcher = Watcher::new(load(config.state_path.as_deref()));
    let mut ticks = tokio::time::interval(config.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let snapshot = state.status.get().await;
        let now = Utc::now();
        let card = view::card(&snapshot, &state.card_settings(), now);
        let seen = incident::classify(&card, config.behind_after, now);
        let Some(message) = watcher.observe(seen) else {
            continue;
        };
        let text = state
            .scrubber
            .scrub_foreign(&text(&message, card.workflow.as_ref().ok(), now));
        match crate::report::slack::try_send(&config.slack_webhook, &text).await {
            Ok(()) => {
                watcher.delivered(&message, now);
                save(config.state_path.as_deref(), watcher.told);
                tracing::info!("told Slack: {text}");
            }
            Err(problem) => {
                tracing::warn!("Slack alert not sent (tried again at the next poll): {problem}");
            }
        }
    }
}

/// The Slack text of `message`: the card's words, the runbook section to read, and the
/// workflow when the status names it.
pub fn text(message: &Message, workflow: Option<&Url>, now: DateTime<Utc>) -> String {
    let runbook = |kind: Kind| {
        workflow
            .and_then(|w| view::runbook_url_for(w, kind.runbook_anchor()))
            .map_or_else(
                || format!(" Runbook: {}.", kind.runbook_anchor()),
                |url| format!(" <{url}|Runbook>"),
            )
    };
    let view_run = workflow.map_or_else(String::new, |w| format!(" <{w}|View workflow>"));
    match message {
        Message::Started { incident, was } => {
            let icon = match incident.kind {
                Kind::Failing => ":x:",
                Kind::Stale | Kind::Unreadable => ":warning:",
                Kind::Behind => ":hourglass:",
            };
            let was = was.map_or_else(String::new, |was| format!(" (was {})", was.label()));
            format!(
                "{icon} Guardrail follow-ups feed: {}{was}. {}{}{view_run}",
                incident.kind.label(),
                incident.says.trim(),
                runbook(incident.kind)
            )
        }
        Message::Recovered { was, since } => {
            let lasted = (now - *since).to_std().unwrap_or_default();
            format!(
                ":white_check_mark: Guardrail follow-ups feed: Healthy again after {} \
                 (told {} ago).{view_run}",
                was.label(),
                view::duration(lasted)
            )
        }
    }
}

/// What Slack was told, from the state file; nothing when there is none (or it is unreadable,
/// which is logged).
fn load(path: Option<&Path>) -> Option<Told> {
    let path = path?;
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Option<Told>>(&bytes) {
            Ok(told) => told,
            Err(e) => {
                tracing::warn!(
                    "the alert state {} is not readable ({e}); starting as if nothing was told",
                    path.display()
                );
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(
                "cannot read the alert state {}: {e}; starting as if nothing was told",
                path.display()
            );
            None
        }
    }
}

fn save(path: Option<&Path>, told: Option<Told>) {
    let Some(path) = path else {
        return;
    };
    let bytes = serde_json::to_vec(&told).expect("plain data serializes");
    if let Err(e) = crate::fs::write_atomically(path, &bytes, crate::fs::Readers::Owner) {
        tracing::warn!(
            "cannot write the alert state {}: {e}; a restart may tell Slack this incident again",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident::Incident;

    #[test]
    fn messages_carry_the_cards_words_and_the_runbook() {
        let workflow: Url = "https://github.com/acme/app/actions/runs/1"
            .parse()
            .unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let failing = Message::Started {
            incident: Incident {
                kind: Kind::Failing,
                says: "The last run failed. Error: the webhook answered 500".into(),
            },
            was: None,
        };
        let text = text(&failing, Some(&workflow), now);
        assert!(text.starts_with(":x: Guardrail follow-ups feed: Failing. The last run failed. Error: the webhook answered 500"), "{text}");
        assert!(
            text.contains(
                "<https://github.com/acme/app/blob/HEAD/docs/runbook.md#when-a-run-fails|Runbook>"
            ),
            "{text}"
        );
        let recovered = Message::Recovered {
            was: Kind::Stale,
            since: now - chrono::Duration::minutes(95),
        };
        let text = super::text(&recovered, None, now);
        assert_eq!(
            text,
            ":white_check_mark: Guardrail follow-ups feed: Healthy again after Stale (told 1 h 35 min ago)."
        );
    }

    #[test]
    fn the_state_file_round_trips_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alert-state.json");
        assert_eq!(load(Some(&path)), None);
        let told = Told {
            kind: Kind::Failing,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        save(Some(&path), Some(told));
        assert_eq!(load(Some(&path)), Some(told));
        std::fs::write(&path, b"{garbage").unwrap();
        assert_eq!(load(Some(&path)), None);
    }
}
