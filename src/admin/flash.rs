//! One-time messages shown on the card after an action ("Export started", or why not), kept
//! per session between the POST and the GET it redirects to.
//!
//! Written by hand: axum-messages keeps messages in tower-sessions' store, which this page does
//! not have (its sessions are signed cookies, [`crate::admin::auth`]).

use std::collections::HashMap;
use std::sync::Mutex;

/// More sessions than this waiting for a message means something is off; start over.
const MAX_PENDING: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    pub fn class(self) -> &'static str {
        match self {
            FlashKind::Success => "ok",
            FlashKind::Error => "error",
        }
    }

    /// Screen readers announce an error at once, a success politely.
    pub fn role(self) -> &'static str {
        match self {
            FlashKind::Success => "status",
            FlashKind::Error => "alert",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            FlashKind::Success => "Export started.",
            FlashKind::Error => "The export could not be started.",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Flashes {
    pending: Mutex<HashMap<String, Flash>>,
}

impl Flashes {
    pub fn put(&self, session_id: &str, flash: Flash) {
        let mut pending = self.pending.lock().expect("not poisoned");
        if pending.len() >= MAX_PENDING {
            pending.clear();
        }
        pending.insert(session_id.to_owned(), flash);
    }

    pub fn take(&self, session_id: &str) -> Option<Flash> {
        self.pending
            .lock()
            .expect("not poisoned")
            .remove(session_id)
    }
}
