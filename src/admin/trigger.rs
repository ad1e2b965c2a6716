//! "Run export now": a POST from the card (with its CSRF token) makes this server POST
//! `{"ref": …}` to the workflow-dispatch endpoint with the bearer token — or, on a host where
//! systemd runs the export, write a request file that a path unit watches ([`request`]) — then
//! redirects the browser back to the card with the outcome (POST/redirect/GET). The token never leaves the
//! server: whatever the endpoint answers (an error body may echo the `Authorization` header)
//! passes [`Scrubber::scrub_foreign`] before it is shown or logged.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;

use crate::admin::config::{TriggerConfig, TriggerSetting};
use crate::admin::csrf;
use crate::admin::flash::{Flash, FlashKind};
use crate::admin::{AdminState, REPORTS_PATH, pages};
use crate::env_vars as env;
use crate::redact::{self, Scrubber};

/// Error bodies longer than this are cut: only the message is shown.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What the dispatch endpoint made of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Any 2xx (GitHub answers 204 No Content).
    Dispatched(StatusCode),
    /// Another status, with the endpoint's own message when it gave one.
    Refused { status: StatusCode, message: String },
    /// No answer at all.
    Unreachable(String),
}

/// POSTs the dispatch. The request carries only the configured ref: nothing from the browser.
/// The messages of the outcome have been through `scrubber`.
pub async fn dispatch(
    client: &reqwest::Client,
    trigger: &TriggerConfig,
    scrubber: &Scrubber,
) -> Outcome {
    let body = serde_json::json!({ "ref": trigger.git_ref });
    let sent = client
        .post(trigger.url.clone())
        .bearer_auth(trigger.token.expose_secret())
        .header(header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => {
            let reason = redact::error_chain(&error.without_url());
            return Outcome::Unreachable(scrubber.scrub_foreign(&reason));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Dispatched(status);
    }
    let message = scrubber.scrub_foreign(&error_message(response).await);
    Outcome::Refused { status, message }
}

/// The `message` of a GitHub-style JSON error, or the start of a text body.
async fn error_message(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(message) = value.get("message").and_then(|m| m.as_str())
    {
        return message.trim().to_owned();
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = text.chars().take(300).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// Writes a run request to `path`, replacing it atomically: a path unit watching it
/// (`PathChanged=`) starts the export service. The content says when, for people.
pub fn request(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let text = format!(
        "export requested from the ops page at {}\n",
        crate::time::Timestamp::now()
    );
    crate::fs::write_atomically(path, text.as_bytes(), crate::fs::Readers::Umask)
        .with_context(|| format!("writing {}", path.display()))
}

/// The sentence the card shows after the click.
pub fn flash(outcome: &Outcome, trigger: &TriggerConfig) -> Flash {
    match outcome {
        Outcome::Dispatched(_) => Flash {
            kind: FlashKind::Success,
            text: format!(
                "The export workflow was dispatched on {}. This card shows the new cursor once \
                 the run has finished (usually within a few minutes); reload to check.",
                trigger.git_ref
            ),
        },
        Outcome::Refused { status, message } => {
            let said = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            let hint = match status.as_u16() {
                401 => format!(" Check {}: it was not accepted.", env::EXPORT_TRIGGER_TOKEN),
                403 => format!(
                    " Check that {} may run workflows (GitHub: actions write permission).",
                    env::EXPORT_TRIGGER_TOKEN
                ),
                404 => format!(
                    " Check {} (GitHub also answers 404 when the token cannot see the repository).",
                    env::EXPORT_TRIGGER_URL
                ),
                422 => format!(
                    " Check that {} ({}) names an existing branch or tag and that the workflow \
                     has a workflow_dispatch trigger.",
                    env::EXPORT_TRIGGER_REF,
                    trigger.git_ref
                ),
                _ => String::new(),
            };
            Flash {
                kind: FlashKind::Error,
                text: format!("The workflow endpoint answered {status}{said}.{hint}"),
            }
        }
        Outcome::Unreachable(reason) => Flash {
            kind: FlashKind::Error,
            text: format!(
                "The workflow endpoint {} could not be reached: {reason}.",
                redact::url(trigger.url.as_str())
            ),
        },
    }
}

/// `POST` handler of the card's "Run export now" form.
pub async fn run_export(
    State(state): State<Arc<AdminState>>,
    form: Result<csrf::Checked, csrf::Refused>,
) -> Response {
    let session = match form {
        Ok(checked) => checked.session,
        Err(csrf::Refused(reason)) => {
            tracing::warn!("refused a Run export now request: {reason}");
            return pages::message(
                StatusCode::FORBIDDEN,
                "Request refused",
                &format!(
                    "Nothing was started: {reason}. Open the report again and use its Run export \
                     now button."
                ),
            );
        }
    };
    let flash = match &state.trigger {
        TriggerSetting::Missing(names) => Flash {
            kind: FlashKind::Error,
            text: format!(
                "Run export now is not configured: set {}.",
                names.join(" and ")
            ),
        },
        TriggerSetting::RequestFile(path) => match request(path) {
            Ok(()) => {
                tracing::info!("export requested from the ops page ({})", path.display());
                state.status.revalidate().await;
                Flash {
                    kind: FlashKind::Success,
                    text: "The export was requested: it starts within seconds on the exporter's \
                           host. This card shows the new run once it has finished; reload to \
                           check."
                        .into(),
                }
            }
            Err(error) => {
                tracing::warn!("export request not written: {error:#}");
                Flash {
                    kind: FlashKind::Error,
                    text: format!(
                        "The export could not be requested: {error:#}. Check that {} is a file \
                         in a folder this page may write.",
                        env::ADMIN_TRIGGER_FILE
                    ),
                }
            }
        },
        TriggerSetting::Ready(trigger) => {
            let outcome = dispatch(&state.trigger_client, trigger, &state.scrubber).await;
            match &outcome {
                Outcome::Dispatched(status) => {
                    tracing::info!(
                        git_ref = %trigger.git_ref,
                        "export workflow dispatched from the admin page ({status})"
                    );
                    state.status.revalidate().await;
                }
                Outcome::Refused { status, message } => {
                    tracing::warn!("export workflow dispatch refused: {status}: {message}")
                }
                Outcome::Unreachable(reason) => {
                    tracing::warn!("export workflow dispatch failed: {reason}")
                }
            }
            flash(&outcome, trigger)
        }
    };
    state.flashes.put(&session.id, flash);
    Redirect::to(REPORTS_PATH).into_response()
}
