//! The progress bar: on a terminal only, and only once a run has lasted long enough to need it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs shorter than this show no bar at all.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: AtomicBool,
}

impl Progress {
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            started: Instant::now(),
            shown: AtomicBool::new(false),
        }
    }

    /// A bar with rate and ETA when the total is known, rate only otherwise.
    pub fn start(total: Option<u64>) -> Progress {
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template(
                    "{spinner} exporting [{bar:30}] {human_pos}/{human_len} rows  {rate}  ETA {eta}",
                )
                .expect("valid template")
                .with_key("rate", rate)
                .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template("{spinner} exporting {human_pos} rows  {rate}")
                    .expect("valid template")
                    .with_key("rate", rate),
            ),
        };
        Progress {
            bar: Some(bar),
            started: Instant::now(),
            shown: AtomicBool::new(false),
        }
    }

    pub fn advance(&self, rows: u64) {
        let Some(bar) = &self.bar else { return };
        bar.inc(rows);
        if !self.shown.load(Ordering::Relaxed) && self.started.elapsed() >= SHOW_AFTER {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
            self.shown.store(true, Ordering::Relaxed);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Rows per second, whole.
fn rate(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0} rows/s", state.per_sec());
}
