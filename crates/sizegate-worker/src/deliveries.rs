//! Sending alerts to the sinks of their repository: a loop beside the job
//! loops claims one due delivery at a time (`SKIP LOCKED` with a lease, so
//! two workers never send the same one), sends it and marks it delivered,
//! or records the error and retries with growing backoff until it runs out
//! of attempts. A delivery row is unique per (alert, sink): each alert
//! reaches each sink once.

use std::time::Duration;

use serde_json::json;
use sizegate_gate::Units;
use sizegate_gate::format::{delta as format_delta, signed_percent};
use sizegate_store::alerts::{Alert, ClaimedDelivery, DeliveryOutcome};
use sizegate_store::queue::backoff;
use tokio_util::sync::CancellationToken;

use crate::Worker;

/// How long one webhook request may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest webhook answer body kept in the error.
const MAX_ERROR_BODY: usize = 200;

/// The one-line text of an alert (the Slack-compatible `text` of the
/// webhook, the title of feed entries).
pub fn alert_text(owner: &str, name: &str, alert: &Alert) -> String {
    let direction = if alert.delta >= 0 { "grew" } else { "shrank" };
    let culprit = match &alert.range_start {
        None => match &alert.author {
            Some(login) => format!("at {} by @{login}", short(&alert.commit)),
            None => format!("at {}", short(&alert.commit)),
        },
        Some(start) => format!("between {} and {}", short(start), short(&alert.commit)),
    };
    format!(
        "{owner}/{name}: {} ({}) {direction} by {} ({}) on {} {culprit}",
        alert.target,
        alert.metric,
        format_delta(alert.delta, Units::Binary),
        signed_percent(alert.percent),
        alert.branch,
    )
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

impl Worker {
    /// Deliver alerts until `shutdown` is cancelled.
    pub(crate) async fn delivery_loop(&self, shutdown: &CancellationToken) {
        sizegate_store::install_crypto_provider();
        let client = match reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sizegate/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client; alert deliveries are off");
                return;
            }
        };
        while !shutdown.is_cancelled() {
            let lease = WEBHOOK_TIMEOUT * 3;
            match self.store.claim_alert_delivery(lease).await {
                Ok(Some(delivery)) => {
                    self.deliver(&client, delivery).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not claim an alert delivery"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// Send one claimed delivery and record the outcome.
    pub(crate) async fn deliver(&self, client: &reqwest::Client, delivery: ClaimedDelivery) {
        let sent = self.send_delivery(client, &delivery).await;
        let recorded = match sent {
            Ok(()) => self
                .store
                .mark_alert_delivered(delivery.delivery_id)
                .await
                .map(|()| {
                    tracing::info!(alert = delivery.alert_id, sink = %delivery.kind, "alert delivered");
                }),
            Err((message, permanent)) => {
                let delay = backoff(
                    delivery.attempts,
                    self.config.backoff_base,
                    self.config.backoff_max,
                );
                self.store
                    .mark_alert_delivery_failed(delivery.delivery_id, &message, delay, permanent)
                    .await
                    .map(|outcome| match outcome {
                        DeliveryOutcome::WillRetry => tracing::warn!(
                            alert = delivery.alert_id, sink = %delivery.kind, error = %message,
                            retry_in = ?delay, "alert delivery failed; will retry"
                        ),
                        DeliveryOutcome::Failed => tracing::warn!(
                            alert = delivery.alert_id, sink = %delivery.kind, error = %message,
                            "alert delivery failed for good"
                        ),
                    })
            }
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "could not record an alert delivery; it returns after its lease");
        }
    }

    /// `Err((message, permanent))` on failure.
    async fn send_delivery(
        &self,
        client: &reqwest::Client,
        delivery: &ClaimedDelivery,
    ) -> Result<(), (String, bool)> {
        let alert = self
            .store
            .alert(delivery.repository_id, delivery.alert_id)
            .await
            .map_err(|e| (e.to_string(), false))?
            .ok_or_else(|| ("the alert vanished".to_owned(), true))?;
        match delivery.kind.as_str() {
            "webhook" => {
                let url = delivery
                    .url
                    .as_deref()
                    .ok_or_else(|| ("the webhook has no URL".to_owned(), true))?;
                self.send_webhook(client, url, delivery, &alert).await
            }
            "commit-comment" => self.send_commit_comment(delivery, &alert).await,
            other => Err((format!("unknown sink kind `{other}`"), true)),
        }
    }

    async fn send_webhook(
        &self,
        client: &reqwest::Client,
        url: &str,
        delivery: &ClaimedDelivery,
        alert: &Alert,
    ) -> Result<(), (String, bool)> {
        let link = self.alert_link(&delivery.owner, &delivery.name);
        let mut text = alert_text(&delivery.owner, &delivery.name, alert);
        if let Some(link) = &link {
            text.push_str(&format!(" — {link}"));
        }
        let body = json!({
            "text": text,
            "repository": format!("{}/{}", delivery.owner, delivery.name),
            "alert": alert,
            "url": link,
        });
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-sizegate-alert", alert.id.to_string())
            .header("x-sizegate-delivery", delivery.delivery_id.to_string())
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| (format!("webhook request failed: {e}"), false))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(MAX_ERROR_BODY).collect();
        Err((format!("webhook answered {status}: {excerpt}"), false))
    }

    async fn send_commit_comment(
        &self,
        delivery: &ClaimedDelivery,
        alert: &Alert,
    ) -> Result<(), (String, bool)> {
        let Some(github) = &self.github else {
            return Err((
                "the GitHub App is not configured (SIZEGATE_GITHUB_APP_ID)".to_owned(),
                true,
            ));
        };
        let repo = sizegate_github::Repo::new(&delivery.owner, &delivery.name)
            .map_err(|e| (e.to_string(), true))?;
        let mut body = format!(
            "**sizegate**: {}",
            alert_text(&delivery.owner, &delivery.name, alert)
        );
        if let Some(link) = self.alert_link(&delivery.owner, &delivery.name) {
            body.push_str(&format!("\n\n[Alerts]({link})"));
        }
        github
            .create_commit_comment(&repo, &alert.commit, &body)
            .await
            .map(|_| ())
            .map_err(|e| (e.to_string(), false))
    }

    fn alert_link(&self, owner: &str, name: &str) -> Option<String> {
        let base = self.config.public_url.trim_end_matches('/');
        (!base.is_empty()).then(|| format!("{base}/repos/{owner}/{name}/alerts"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_target_delta_and_culprit() {
        let alert = Alert {
            id: 1,
            target: "x86_64/app".into(),
            metric: "shipped".into(),
            branch: "main".into(),
            commit: "b".repeat(40),
            range_start: Some("a".repeat(40)),
            delta: 20480,
            percent: 2.0,
            before: 1 << 20,
            after: (1 << 20) + 20480,
            author: None,
            pr_number: None,
            changes: json!({}),
            state: "open".into(),
            state_changed_by: None,
            created_at: Default::default(),
            updated_at: Default::default(),
        };
        let text = alert_text("acme", "app", &alert);
        assert_eq!(
            text,
            "acme/app: x86_64/app (shipped) grew by +20.0 KiB (+2%) on main between aaaaaaaaaaaa and bbbbbbbbbbbb"
        );
        let one = Alert {
            range_start: None,
            author: Some("octocat".into()),
            ..alert
        };
        assert!(
            alert_text("acme", "app", &one).ends_with("on main at bbbbbbbbbbbb by @octocat"),
            "{}",
            alert_text("acme", "app", &one)
        );
    }
}
