//! A one-line progress display on stderr for large uploads, drawn only when
//! stderr is a terminal (CI logs stay clean): bytes sent, rate and time
//! left, redrawn at most every 200 ms.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sizegate_analyze::human;

/// Below this, an upload is quick and needs no progress line.
const MIN_BYTES_FOR_PROGRESS: u64 = 4 * 1024 * 1024;
/// Time between two redraws.
const REDRAW: Duration = Duration::from_millis(200);

/// Bytes sent so far, shared by the streams of one attempt.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    sent: AtomicU64,
    /// Bytes already there when this display started (a resumed session):
    /// not counted in the rate.
    resumed_from: AtomicU64,
    started: Instant,
    /// When the line was last drawn; `None` before the first time.
    drawn: Mutex<Option<Instant>>,
    visible: bool,
}

impl Progress {
    /// A display for `total` bytes, visible when stderr is a terminal and
    /// the upload is large.
    pub fn new(total: u64) -> Progress {
        Progress::named("", total)
    }

    /// A display for one artifact.
    pub fn named(label: &str, total: u64) -> Progress {
        Progress {
            label: label.to_owned(),
            total,
            sent: AtomicU64::new(0),
            resumed_from: AtomicU64::new(0),
            started: Instant::now(),
            drawn: Mutex::new(None),
            visible: total >= MIN_BYTES_FOR_PROGRESS && std::io::stderr().is_terminal(),
        }
    }

    /// Start again from `sent` bytes (the offset a resumed upload goes on
    /// from).
    pub fn set(&self, sent: u64) {
        self.sent.store(sent, Ordering::Relaxed);
        if self.resumed_from.load(Ordering::Relaxed) == 0 {
            self.resumed_from.store(sent, Ordering::Relaxed);
        }
    }

    /// Count `bytes` more as sent; redraw when it is time.
    pub fn advance(&self, bytes: u64) {
        let sent = self.sent.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if !self.visible {
            return;
        }
        let now = Instant::now();
        {
            let Ok(mut drawn) = self.drawn.lock() else {
                return;
            };
            if drawn.is_some_and(|at| now.duration_since(at) < REDRAW) && sent < self.total {
                return;
            }
            *drawn = Some(now);
        }
        let line = self.line(sent, now.duration_since(self.started));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}   ");
        let _ = err.flush();
    }

    /// `uploading app: 1.2 GiB / 2.0 GiB (60.0%), 85.3 MiB/s, 10s left`.
    fn line(&self, sent: u64, elapsed: Duration) -> String {
        let permille = sent.saturating_mul(1000) / self.total.max(1);
        let moved = sent.saturating_sub(self.resumed_from.load(Ordering::Relaxed));
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            moved as f64 / seconds
        } else {
            0.0
        };
        let mut line = String::from("uploading");
        if !self.label.is_empty() {
            line.push(' ');
            line.push_str(&self.label);
            line.push(':');
        }
        line.push_str(&format!(
            " {} / {} ({}.{}%)",
            human::size(sent),
            human::size(self.total),
            permille / 10,
            permille % 10
        ));
        if rate >= 1.0 {
            let left = self.total.saturating_sub(sent) as f64 / rate;
            line.push_str(&format!(
                ", {}/s, {}s left",
                human::size(rate as u64),
                left.ceil() as u64
            ));
        }
        line
    }

    /// End the line (before a retry message or the result).
    pub fn finish(&self) {
        let drawn = self.drawn.lock().map(|d| d.is_some()).unwrap_or(false);
        if self.visible && drawn {
            eprintln!();
            if let Ok(mut d) = self.drawn.lock() {
                *d = None;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_bytes_rate_and_time_left() {
        let progress = Progress::named("app", 100 << 20);
        progress.set(0);
        let line = progress.line(50 << 20, Duration::from_secs(5));
        assert!(line.starts_with("uploading app: "), "{line}");
        assert!(line.contains("(50.0%)"), "{line}");
        assert!(line.contains("/s, 5s left"), "{line}");
    }
}
