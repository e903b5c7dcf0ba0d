//! Two independent passes side by side, on two threads when the machine has
//! them: the analyzer's large passes over one binary read different bytes
//! and take comparable time.

/// Run `a` on a second thread while `b` runs on this one, and return both
/// results. When the process may use one core only, or a thread cannot be
/// started, `a` runs here after `b`. A panic in `a` is the caller's panic,
/// as if `a` had run here.
pub(crate) fn join<A: Send, B>(a: impl Fn() -> A + Sync, b: impl FnOnce() -> B) -> (A, B) {
    if crate::sizes::threads() < 2 {
        let b = b();
        return (a(), b);
    }
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("sizegate-analyze".into())
            .spawn_scoped(scope, &a);
        let b = b();
        let a = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload)),
            Err(_) => a(),
        };
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_results_come_back_in_order() {
        let data: Vec<u64> = (1..=1000).collect();
        let (sum, max) = super::join(|| data.iter().sum::<u64>(), || data.iter().max().copied());
        assert_eq!((sum, max), (500_500, Some(1000)));
    }
}
