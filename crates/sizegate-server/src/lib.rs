//! `sizegate-server`: the axum application: uploads, webhooks, JSON API,
//! dashboard, `/healthz` and `/metrics`.
