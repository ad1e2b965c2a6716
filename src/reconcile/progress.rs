//! The lake pass's progress on a terminal: objects and rows read, and the rate. Off when stderr
//! is not a terminal, with `--quiet` or with `--log-format json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    objects: AtomicU64,
}

impl Progress {
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            objects: AtomicU64::new(0),
        }
    }

    /// A spinner on stderr, counting rows.
    pub fn start(what: &str) -> Progress {
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} {what}: {{msg}} objects, {{human_pos}} rows  {{per_sec}}"
        ))
        .expect("valid template");
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message("0");
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: Some(bar),
            objects: AtomicU64::new(0),
        }
    }

    /// One more object read, holding `rows` rows of the range.
    pub fn object(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(rows);
            let objects = self.objects.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(objects.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
