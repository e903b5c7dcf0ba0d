//! A one-line progress display on stderr for large uploads, drawn only when
//! stderr is a terminal (CI logs stay clean).

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};

use sizegate_analyze::human;

/// Below this, an upload is quick and needs no progress line.
const MIN_BYTES_FOR_PROGRESS: u64 = 4 * 1024 * 1024;

/// Bytes sent so far, shared by the streams of one attempt.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    sent: AtomicU64,
    /// Last drawn value, in tenths of a percent; `u64::MAX` when hidden.
    drawn: AtomicU64,
    visible: bool,
}

impl Progress {
    /// A display for `total` bytes, visible when stderr is a terminal and
    /// the upload is large.
    pub fn new(total: u64) -> Progress {
        Progress {
            total,
            sent: AtomicU64::new(0),
            drawn: AtomicU64::new(u64::MAX),
            visible: total >= MIN_BYTES_FOR_PROGRESS && std::io::stderr().is_terminal(),
        }
    }

    /// Count `bytes` more as sent; redraw when a tenth of a percent passed.
    pub fn advance(&self, bytes: u64) {
        let sent = self.sent.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if !self.visible {
            return;
        }
        let permille = sent.saturating_mul(1000) / self.total.max(1);
        if self.drawn.swap(permille, Ordering::Relaxed) != permille {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\ruploading {} / {} ({}.{}%)   ",
                human::size(sent),
                human::size(self.total),
                permille / 10,
                permille % 10
            );
            let _ = err.flush();
        }
    }

    /// End the line (before a retry message or the result).
    pub fn finish(&self) {
        if self.visible && self.drawn.load(Ordering::Relaxed) != u64::MAX {
            eprintln!();
        }
    }
}
