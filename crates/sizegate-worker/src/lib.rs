//! `sizegate-worker`: the job loop: claim, analyze, store, gate, report.
