//! Slack incoming-webhook messages. Sending never fails the run: trouble is a warning.

use std::fmt::Write as _;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::ReportConfig;
use crate::export::Summary;

pub fn success(summary: &Summary, config: &ReportConfig) -> String {
    let cursor = summary
        .cursor
        .map_or_else(|| "none yet".into(), |p| p.created_at.to_string());
    let late = match summary.late.found {
        0 => String::new(),
        found => format!(" {found} late rows found and delivered."),
    };
    let mut text = format!(
        ":white_check_mark: Guardrail follow-ups export: {} rows exported; next cursor {cursor}; updated {}.{late}",
        summary.rows,
        crate::time::Timestamp::now()
    );
    push_link(&mut text, config);
    text
}

pub fn failure(problem: &str, config: &ReportConfig) -> String {
    let mut text = format!(":x: Guardrail follow-ups export failed: {problem}");
    push_link(&mut text, config);
    text
}

fn push_link(text: &mut String, config: &ReportConfig) {
    if let Some(url) = &config.workflow_url {
        let _ = write!(text, " <{}|View run>", url.0);
    }
}

/// Posts `{"text": …}`; logs a warning (without the webhook URL, which is a secret) on failure.
pub async fn send(webhook: &SecretString, text: &str) {
    match try_send(webhook, text).await {
        Ok(()) => tracing::debug!("Slack message sent"),
        Err(problem) => tracing::warn!("Slack message not sent: {problem}"),
    }
}

/// Whether the webhook would take a message, without posting one: Slack answers an empty
/// payload with 400 (`no_text`, `invalid_payload`) when the webhook exists, and with 403, 404
/// or 410 when it was revoked or mistyped.
pub async fn probe(webhook: &SecretString) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(webhook.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .map_err(|e| {
            format!(
                "the Slack webhook cannot be reached: {}",
                crate::redact::error_chain(&e.without_url())
            )
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match status.as_u16() {
        200..=299 | 400 => Ok(()),
        _ => Err(format!(
            "the Slack webhook answered {status} ({}): it was revoked or is mistyped",
            body.trim().chars().take(80).collect::<String>()
        )),
    }
}

/// Posts `{"text": …}`; what went wrong, without the webhook URL (a secret), otherwise.
pub async fn try_send(webhook: &SecretString, text: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let body = serde_json::json!({ "text": text }).to_string();
    let response = client
        .post(webhook.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| crate::redact::error_chain(&e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the Slack webhook answered {}", response.status()))
    }
}
