//! The cursor state and its store during a run: the state the run starts from, and how each
//! acknowledged batch moves it — at once when the sink made it durable, or when the sink
//! finishes.

use std::collections::BTreeMap;

use super::ExportConfig;
use super::sink::Ack;
use crate::cursor::{AuditState, CursorState, Fingerprint, Position};
use crate::error::{Error, describe_filter};
use crate::store::CursorStore;

/// How an acknowledged batch changes the cursor state.
pub(super) enum Effect {
    /// Main export: the cursor moves to `last`; the rows join the audit's fingerprints.
    Advance {
        rows: u64,
        last: Position,
        fingerprints: BTreeMap<i64, Fingerprint>,
    },
    /// Audit: a bucket was delivered again; its fingerprint is now `fingerprint`.
    Reaudit {
        bucket: i64,
        fingerprint: Fingerprint,
    },
}

/// The cursor state and its store: a batch's effect is applied and saved once the sink has
/// acknowledged it durably, or kept until the sink finishes.
pub(super) struct Ledger<'a> {
    pub(super) store: &'a mut dyn CursorStore,
    pub(super) state: CursorState,
    /// Rows delivered by this run's main export.
    pub(super) run_rows: u64,
    pending: Vec<Effect>,
    /// The audit window's first bucket at the start of the run.
    pub(super) first_bucket: i64,
}

impl<'a> Ledger<'a> {
    pub(super) fn new(
        store: &'a mut dyn CursorStore,
        state: CursorState,
        first_bucket: i64,
    ) -> Ledger<'a> {
        Ledger {
            store,
            state,
            run_rows: 0,
            pending: Vec::new(),
            first_bucket,
        }
    }

    pub(super) async fn acknowledged(&mut self, effect: Effect, ack: Ack) -> Result<(), Error> {
        match ack {
            Ack::Durable => {
                self.apply(effect);
                self.store.save(&self.state, self.run_rows).await
            }
            Ack::UntilFinish => {
                self.pending.push(effect);
                Ok(())
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Advance {
                rows,
                last,
                fingerprints,
            } => {
                self.run_rows += rows;
                self.state.total_rows += rows;
                self.state.position = Some(last);
                if let Some(audit) = &mut self.state.audit {
                    audit.record(&fingerprints);
                }
            }
            Effect::Reaudit {
                bucket,
                fingerprint,
            } => {
                if let Some(audit) = &mut self.state.audit {
                    audit.buckets.insert(bucket, fingerprint);
                }
            }
        }
    }

    /// Applies what the sink made durable on finishing, and saves.
    ///
    /// With such a sink the cursor has not moved yet when the audit runs, so a bucket it sent
    /// again holds only rows up to the run's start; the run's own rows in that bucket are added
    /// after it, not replaced by it.
    pub(super) async fn finish(&mut self) -> Result<(), Error> {
        let (reaudits, advances): (Vec<Effect>, Vec<Effect>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|effect| matches!(effect, Effect::Reaudit { .. }));
        for effect in reaudits.into_iter().chain(advances) {
            self.apply(effect);
        }
        self.store.save(&self.state, self.run_rows).await
    }
}

/// The state the run starts from: the stored cursor checked against this run's filter, or a
/// fresh one on `--reset-cursor`, with `--cursor` overriding the position.
pub(super) async fn starting_state(
    config: &ExportConfig,
    store: &mut dyn CursorStore,
) -> Result<CursorState, Error> {
    // Loaded even on --reset-cursor: a conditional store must know the version it replaces.
    let stored = match store.load().await {
        Ok(_) if config.reset_cursor => None,
        Err(Error::CorruptCursor { .. }) if config.reset_cursor => None,
        other => other?,
    };
    let mut state = match stored {
        Some(stored) if !stored.legacy && stored.provider_id != config.provider_id => {
            return Err(Error::CursorMismatch {
                path: store.describe(),
                stored: describe_filter(stored.provider_id.as_deref()),
                requested: describe_filter(config.provider_id.as_deref()),
            });
        }
        Some(stored) => {
            if stored.legacy
                && let Some(position) = stored.position
            {
                tracing::warn!(
                    cursor = %position.created_at,
                    "legacy cursor file (timestamp only): rows at exactly that instant are sent again; \
                     the file is rewritten in the current format after this run"
                );
            }
            stored
        }
        None => CursorState::default(),
    };
    state.provider_id = config.provider_id.clone();
    state.legacy = false;
    if let Some(start) = config.start {
        state.position = Some(start);
    }
    // The audit starts afresh (from the start position) when there is none yet, when the
    // position was overridden, or when the bucket size changed.
    let keep = config.audit.enabled()
        && config.start.is_none()
        && state
            .audit
            .as_ref()
            .is_some_and(|a| a.bucket_seconds == config.audit.bucket.as_secs());
    if !keep {
        state.audit = config
            .audit
            .enabled()
            .then(|| AuditState::starting_after(state.position, &config.audit));
    }
    Ok(state)
}
