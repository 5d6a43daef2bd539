//! Delivery: takes the oldest request of each endpoint from the queue when it is due, POSTs it
//! signed with the app's current secret and a fresh `time_ms`, and records the outcome: 2xx
//! removes it; a timeout, connection error or other status schedules a retry with exponential
//! backoff and jitter, until `max_attempts`, after which it becomes a dead letter. One request
//! per endpoint is in flight at a time, so an endpoint sees its requests in order; endpoints do
//! not wait for each other. Delivery is at least once: a request cut by a crash is sent again.
//! Each outcome is also shown on the app's debug console (`debug_feed.rs`) while it is watched.

use ferrocast_protocol::webhook::{self, encode_body, sign_body};
use serde_json::value::RawValue;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

use super::queue::{Job, Queue};
use crate::apps::{App, Apps};
use crate::clock::unix_now_ms;
use crate::config::{AppConfig, WebhookSettings};
use crate::debug_feed::{DebugEvent, WebhookOutcome};
use crate::metrics::WebhookMetrics;

/// Longest sleep between two looks at the queue when nothing wakes the loop.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The delay before retry number `attempt` (1 for the first retry): `base · 2^(attempt-1)`,
/// capped at `max`, of which a random upper half is waited ("equal jitter"), so endpoints that
/// failed together do not all come back at once.
pub(super) fn backoff(attempt: u32, base_ms: u64, max_ms: u64, random: f64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(40));
    let d = exp.min(max_ms);
    d / 2 + ((d / 2) as f64 * random.clamp(0.0, 1.0)) as u64
}

pub(super) struct Delivery {
    pub queue: Arc<dyn Queue>,
    pub apps: Arc<Apps>,
    pub settings: WebhookSettings,
    pub metrics: WebhookMetrics,
    pub kick: Arc<Notify>,
    pub http: reqwest::Client,
}

impl Delivery {
    pub(super) async fn run(self: Arc<Self>) {
        let in_flight: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
        // A queue out of reach (Redis down) is logged when it goes and when it comes back,
        // not at every look.
        let mut failing = false;
        loop {
            let mut wait = IDLE_POLL;
            match self.queue.heads().await {
                Ok(heads) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("webhooks: the queue can be read again");
                    }
                    let now = unix_now_ms();
                    for job in heads {
                        if job.due_ms > now {
                            wait = wait.min(Duration::from_millis(job.due_ms - now));
                            continue;
                        }
                        let endpoint = job.endpoint();
                        if !lock(&in_flight).insert(endpoint.clone()) {
                            continue;
                        }
                        let (this, in_flight) = (self.clone(), in_flight.clone());
                        tokio::spawn(async move {
                            this.attempt(job).await;
                            lock(&in_flight).remove(&endpoint);
                            this.kick.notify_one();
                        });
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(error = %e, "webhooks: cannot read the queue; delivery waits");
                }
                Err(e) => tracing::debug!(error = %e, "webhooks: still cannot read the queue"),
            }
            let _ = tokio::time::timeout(wait, self.kick.notified()).await;
        }
    }

    /// One attempt at one request, its outcome recorded in the queue and shown on the app's
    /// debug console (if anyone watches).
    async fn attempt(&self, job: Job) {
        let app = self.apps.by_id(&job.app_id);
        let outcome = match &app {
            Some(app) => self.send(app, &job).await,
            None => Err("the app no longer exists".into()),
        };
        let s = &self.settings;
        let attempt = job.attempts + 1;
        let (recorded, shown) = match outcome {
            Ok(status) => {
                self.metrics.delivered.increment(1);
                let recorded = self.queue.delivered(job.id).await;
                (recorded, WebhookOutcome::Delivered { status })
            }
            Err(error) if attempt >= s.max_attempts => {
                self.metrics.dead.increment(1);
                tracing::warn!(app = %job.app_id, url = %job.url, %error, attempts = attempt,
                    "webhook request failed every attempt; kept as a dead letter");
                let recorded = self.queue.bury(job.id, &error).await;
                (recorded, WebhookOutcome::DeadLettered { error })
            }
            Err(error) => {
                self.metrics.failed.increment(1);
                let delay = backoff(attempt, s.backoff_ms, s.backoff_max_ms, rand::random());
                tracing::debug!(app = %job.app_id, url = %job.url, %error, delay_ms = delay, "webhook request failed; will retry");
                let recorded = self
                    .queue
                    .retry(job.id, unix_now_ms() + delay, &error)
                    .await;
                (
                    recorded,
                    WebhookOutcome::WillRetry {
                        error,
                        retry_in_ms: delay,
                    },
                )
            }
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "webhooks: cannot record a delivery outcome");
        }
        if let Some(app) = app {
            app.debug
                .emit(|| DebugEvent::webhook(&job.url, &job.events, attempt, shown));
        }
    }

    /// Sends the request; the answer's status when the endpoint accepted it.
    async fn send(&self, app: &App, job: &Job) -> Result<u16, String> {
        let events =
            RawValue::from_string(job.events.clone()).map_err(|e| format!("bad record: {e}"))?;
        let body = encode_body(unix_now_ms(), &*events);
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        signed_post(&self.http, &job.url, &app.config(), body, timeout)
            .await
            .map(|resp| resp.status().as_u16())
    }
}

/// POSTs `body` to `url` signed as Pusher signs webhooks (`X-Pusher-Key`, `X-Pusher-Signature`
/// with the app's current secret); a timeout, connection error or non-2xx answer is an `Err`
/// saying which. Server hooks send their requests the same way.
pub(crate) async fn signed_post(
    http: &reqwest::Client,
    url: &str,
    app: &AppConfig,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<reqwest::Response, String> {
    let signature = sign_body(&app.secret, &body);
    let resp = http
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(webhook::KEY_HEADER, app.key.as_str())
        .header(webhook::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timeout".to_owned()
            } else {
                format!("connection error: {e}")
            }
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(resp)
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        assert_eq!(backoff(1, 1000, 60_000, 1.0), 1000);
        assert_eq!(backoff(1, 1000, 60_000, 0.0), 500);
        assert_eq!(backoff(3, 1000, 60_000, 1.0), 4000);
        assert_eq!(backoff(30, 1000, 60_000, 1.0), 60_000);
        assert_eq!(backoff(u32::MAX, 1000, 60_000, 0.5), 45_000);
    }
}
