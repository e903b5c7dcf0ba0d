//! The wall clock and the sleeper behind one small trait, so that tests can
//! check the waits the client computes (a minute for a secondary rate limit)
//! without sleeping them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A boxed future returned by [`Clock::sleep`].
pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Source of the current time and of waits.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Wait for `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture<'_>;
}

/// The real clock: `Utc::now()` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock for tests: time stands still until advanced, and a sleep returns at
/// once after recording its duration and moving the time forward by it.
#[cfg(feature = "fake")]
#[derive(Debug)]
pub struct FakeClock {
    state: std::sync::Mutex<FakeClockState>,
}

#[cfg(feature = "fake")]
#[derive(Debug)]
struct FakeClockState {
    now: DateTime<Utc>,
    sleeps: Vec<Duration>,
}

#[cfg(feature = "fake")]
impl FakeClock {
    /// A fake clock that starts at the real current time.
    pub fn new() -> Self {
        Self::starting_at(Utc::now())
    }

    /// A fake clock that starts at `now`.
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self {
            state: std::sync::Mutex::new(FakeClockState {
                now,
                sleeps: Vec::new(),
            }),
        }
    }

    /// Move the time forward without recording a sleep.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.now = later(state.now, by);
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeClockState> {
        // A poisoned lock only means another test thread panicked; the state
        // is still a plain value.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "fake")]
impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "fake")]
impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        {
            let mut state = self.lock();
            state.sleeps.push(duration);
            state.now = later(state.now, duration);
        }
        Box::pin(std::future::ready(()))
    }
}

/// `time + by`, saturating instead of overflowing.
pub(crate) fn later(time: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| time.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
