//! The progress display on a terminal: which phase the run is in (connecting, waiting for the
//! database, exporting, the late-row audit), and while exporting a bar whose rate and ETA are
//! measured from the first row, not from the start of the run. It appears only once a run has
//! lasted long enough to need it, and never with `--quiet`, `--log-format json` or when stderr
//! is not a terminal (see `progress` in the export's configuration).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Runs shorter than this show nothing at all.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The rate and the ETA are shown once the export has run this long (before, they are noise).
const MEASURE_AFTER: Duration = Duration::from_secs(2);

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Rows to export, when counted.
    total: Option<u64>,
    exporting: AtomicBool,
}

impl Progress {
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            total: None,
            exporting: AtomicBool::new(false),
        }
    }

    /// A spinner saying `phase`, drawn on stderr from [`SHOW_AFTER`] on.
    pub fn start(phase: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
            .with_style(spinner_style());
        bar.set_message(phase.to_owned());
        let later = bar.downgrade();
        tokio::spawn(async move {
            tokio::time::sleep(SHOW_AFTER).await;
            if let Some(bar) = later.upgrade()
                && !bar.is_finished()
            {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(200));
            }
        });
        Progress {
            bar: Some(bar),
            total: None,
            exporting: AtomicBool::new(false),
        }
    }

    /// A phase without a count (connecting, waiting for the database, the audit), shown with
    /// how long it has lasted.
    pub fn phase(&self, phase: String) {
        let Some(bar) = &self.bar else { return };
        if self.exporting.swap(false, Ordering::Relaxed) {
            bar.set_style(spinner_style());
        }
        // The time shown is the phase's own.
        bar.reset_elapsed();
        bar.set_message(phase);
    }

    /// How many rows the export is about to read, for the bar's length and ETA.
    pub fn set_total(&mut self, total: Option<u64>) {
        self.total = total;
    }

    /// `rows` more were delivered. The first call turns the spinner into the bar, whose clock
    /// starts then.
    pub fn advance(&self, rows: u64) {
        let Some(bar) = &self.bar else { return };
        if !self.exporting.swap(true, Ordering::Relaxed) {
            bar.set_style(bar_style(self.total.is_some()));
            bar.set_message("exporting");
            if let Some(total) = self.total {
                bar.set_length(total);
            }
            bar.set_position(0);
            bar.reset_elapsed();
            bar.reset_eta();
        }
        bar.inc(rows);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}").expect("valid template")
}

fn bar_style(counted: bool) -> ProgressStyle {
    let template = if counted {
        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} rows  {rows_per_second}  ETA {remaining}"
    } else {
        "{spinner} {msg} {human_pos} rows  {rows_per_second}"
    };
    ProgressStyle::with_template(template)
        .expect("valid template")
        .with_key(
            "rows_per_second",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match rate(state.pos(), state.elapsed()) {
                    Some(rate) => write!(w, "{rate:.0} rows/s"),
                    None => write!(w, "– rows/s"),
                };
            },
        )
        .with_key(
            "remaining",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match remaining(state.pos(), state.len(), state.elapsed()) {
                    Some(eta) => write!(w, "{}", HumanDuration(eta)),
                    None => write!(w, "–"),
                };
            },
        )
        .progress_chars("=> ")
}

/// Rows per second since the first row, once that has been measured long enough.
fn rate(pos: u64, elapsed: Duration) -> Option<f64> {
    (elapsed >= MEASURE_AFTER && pos > 0).then(|| pos as f64 / elapsed.as_secs_f64())
}

/// The time left at the rate so far.
fn remaining(pos: u64, len: Option<u64>, elapsed: Duration) -> Option<Duration> {
    let rate = rate(pos, elapsed)?;
    let left = len?.saturating_sub(pos);
    Some(Duration::from_secs_f64(left as f64 / rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_and_eta_wait_for_a_measurement_and_then_are_steady() {
        assert_eq!(rate(5_000, Duration::from_millis(50)), None, "too soon");
        assert_eq!(rate(0, Duration::from_secs(30)), None, "no rows yet");
        assert_eq!(rate(20_000, Duration::from_secs(4)), Some(5_000.0));
        assert_eq!(
            remaining(20_000, Some(1_020_000), Duration::from_secs(4)),
            Some(Duration::from_secs(200))
        );
        assert_eq!(remaining(20_000, None, Duration::from_secs(4)), None);
        assert_eq!(
            remaining(30_000, Some(20_000), Duration::from_secs(4)),
            Some(Duration::ZERO),
            "more rows than counted (some arrived since): no negative ETA"
        );
    }
}
