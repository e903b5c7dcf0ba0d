//! GitHub webhooks: the `X-Hub-Signature-256` check and the typed events
//! sizegate acts on. Pure functions; the HTTP endpoint lives in the server.

mod events;
mod signature;

pub use events::{
    CheckRunRerequested, CheckSuiteRerequested, EventError, InstallationAction, InstallationChange,
    InstallationRepositoriesChange, MAX_PUSH_COMMITS, PullRequestAction, PullRequestEvent,
    PushEvent, RepositoryFacts, WebhookEvent, parse_event,
};
pub use signature::{SignatureCheck, SignatureError, verify_signature};
