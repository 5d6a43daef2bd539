//! Every metric the server exports, in one place, rendered in Prometheus text format on the
//! operations port. Each server has its own recorder (nothing global), and each app holds
//! pre-registered handles, so recording on the hot path is an atomic add, not a lookup.
//! Labels only take bounded values: known app ids, route templates, status codes, close codes.

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Label, Level, Metadata,
    Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const CONNECTIONS: &str = "ferrocast_connections";
pub const CONNECTIONS_OPENED: &str = "ferrocast_connections_opened_total";
pub const CONNECTIONS_CLOSED: &str = "ferrocast_connections_closed_total";
pub const CONNECTIONS_REFUSED: &str = "ferrocast_connections_refused_total";
pub const WS_MESSAGES_RECEIVED: &str = "ferrocast_ws_messages_received_total";
pub const WS_BYTES_RECEIVED: &str = "ferrocast_ws_bytes_received_total";
pub const WS_MESSAGES_SENT: &str = "ferrocast_ws_messages_sent_total";
pub const WS_BYTES_SENT: &str = "ferrocast_ws_bytes_sent_total";
pub const HTTP_REQUESTS: &str = "ferrocast_http_requests_total";
pub const HTTP_BYTES_RECEIVED: &str = "ferrocast_http_bytes_received_total";
pub const HTTP_BYTES_SENT: &str = "ferrocast_http_bytes_sent_total";
pub const EVENTS_PUBLISHED: &str = "ferrocast_events_published_total";
pub const CHANNELS: &str = "ferrocast_channels";
pub const SUBSCRIPTIONS: &str = "ferrocast_subscriptions";
pub const PRESENCE_MEMBERS: &str = "ferrocast_presence_members";
pub const DELIVERY_LATENCY: &str = "ferrocast_delivery_latency_seconds";
pub const SLOW_CONSUMERS: &str = "ferrocast_slow_consumer_disconnects_total";
pub const RATE_LIMITED: &str = "ferrocast_rate_limited_total";
pub const HISTORY_APPENDS: &str = "ferrocast_history_appends_total";
pub const HISTORY_RECOVERIES: &str = "ferrocast_history_recoveries_total";
pub const WEBHOOK_EVENTS: &str = "ferrocast_webhook_events_total";
pub const WEBHOOK_REQUESTS: &str = "ferrocast_webhook_requests_total";

/// Every metric with its help text, for `# HELP` lines and docs/operations.md.
pub const ALL: [(&str, &str); 22] = [
    (CONNECTIONS, "Open WebSocket connections"),
    (CONNECTIONS_OPENED, "WebSocket connections accepted"),
    (CONNECTIONS_CLOSED, "WebSocket connections ended"),
    (
        CONNECTIONS_REFUSED,
        "WebSocket connections refused at the door, by Pusher error code",
    ),
    (
        WS_MESSAGES_RECEIVED,
        "WebSocket messages received from clients",
    ),
    (
        WS_BYTES_RECEIVED,
        "Bytes of WebSocket messages received from clients",
    ),
    (WS_MESSAGES_SENT, "WebSocket messages written to clients"),
    (
        WS_BYTES_SENT,
        "Bytes of WebSocket messages written to clients",
    ),
    (HTTP_REQUESTS, "HTTP API requests, by endpoint and status"),
    (HTTP_BYTES_RECEIVED, "Bytes of HTTP API request bodies"),
    (HTTP_BYTES_SENT, "Bytes of HTTP API response bodies"),
    (
        EVENTS_PUBLISHED,
        "Events published to a channel, by source (api or client)",
    ),
    (CHANNELS, "Occupied channels"),
    (SUBSCRIPTIONS, "Channel subscriptions"),
    (
        PRESENCE_MEMBERS,
        "Presence members, summed over presence channels",
    ),
    (
        DELIVERY_LATENCY,
        "Seconds from publish to the frame being written to a socket",
    ),
    (
        SLOW_CONSUMERS,
        "Connections closed because they could not keep up (4100)",
    ),
    (
        RATE_LIMITED,
        "Requests or messages refused by a rate limit, by limit",
    ),
    (
        HISTORY_APPENDS,
        "Events stored in channel history, by result (ok or error)",
    ),
    (
        HISTORY_RECOVERIES,
        "Subscriptions that asked to recover, by outcome (recovered or not)",
    ),
    (
        WEBHOOK_EVENTS,
        "Webhook events produced, by result (queued, or refused when the buffer is full)",
    ),
    (
        WEBHOOK_REQUESTS,
        "Webhook requests attempted, by result (delivered, failed and retried, dead-lettered)",
    ),
];

/// Latency buckets in seconds: 100 µs to 2.5 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The server's metrics registry.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Node-wide running totals the dashboard reads every second (Prometheus handles cannot
    /// be read back).
    pub totals: Arc<Totals>,
}

/// Running totals over every app of this node: messages in (WebSocket messages received and
/// API events) and out (frames written), and the sum and count of delivery latencies.
#[derive(Debug, Default)]
pub struct Totals {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub latency_micros: AtomicU64,
    pub latency_samples: AtomicU64,
}

/// A snapshot of `Totals`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TotalsSnapshot {
    pub messages_in: u64,
    pub messages_out: u64,
    pub latency_micros: u64,
    pub latency_samples: u64,
}

impl Totals {
    pub fn snapshot(&self) -> TotalsSnapshot {
        TotalsSnapshot {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            latency_micros: self.latency_micros.load(Ordering::Relaxed),
            latency_samples: self.latency_samples.load(Ordering::Relaxed),
        }
    }
}

/// A counter that also adds to one of the totals: one more atomic add per increment.
struct TeeCounter {
    inner: Counter,
    totals: Arc<Totals>,
    pick: fn(&Totals) -> &AtomicU64,
}

impl CounterFn for TeeCounter {
    fn increment(&self, value: u64) {
        self.inner.increment(value);
        (self.pick)(&self.totals).fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.inner.absolute(value);
    }
}

/// The delivery-latency histogram, also summed into the totals.
struct TeeLatency {
    inner: Histogram,
    totals: Arc<Totals>,
}

impl HistogramFn for TeeLatency {
    fn record(&self, seconds: f64) {
        self.inner.record(seconds);
        let micros = (seconds * 1e6).max(0.0) as u64;
        self.totals
            .latency_micros
            .fetch_add(micros, Ordering::Relaxed);
        self.totals.latency_samples.fetch_add(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder
            .set_buckets_for_metric(Matcher::Full(DELIVERY_LATENCY.into()), &LATENCY_BUCKETS)
        {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        for (name, help) in ALL {
            let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
            recorder.describe_counter(KeyName::from(name), unit, SharedString::from(help));
        }
        let handle = recorder.handle();
        Self {
            recorder,
            handle,
            totals: Arc::default(),
        }
    }
}

/// Handles of the webhook metrics (server-wide).
#[derive(Clone)]
pub struct WebhookMetrics {
    pub queued: Counter,
    pub refused: Counter,
    pub delivered: Counter,
    pub failed: Counter,
    pub dead: Counter,
}

/// Per-app handles, cloned into each app's live state.
#[derive(Clone)]
pub struct AppMetrics {
    pub connections: Gauge,
    pub connections_opened: Counter,
    pub connections_closed: Counter,
    pub ws_messages_received: Counter,
    pub ws_bytes_received: Counter,
    pub ws_messages_sent: Counter,
    pub ws_bytes_sent: Counter,
    pub http_bytes_received: Counter,
    pub http_bytes_sent: Counter,
    pub api_events: Counter,
    pub client_events: Counter,
    pub channels: Gauge,
    pub subscriptions: Gauge,
    pub presence_members: Gauge,
    pub delivery_latency: Histogram,
    pub slow_consumers: Counter,
    pub rate_limited_client_events: Counter,
    pub rate_limited_backend_events: Counter,
    pub rate_limited_read_requests: Counter,
    pub history_appends: Counter,
    pub history_append_failures: Counter,
    pub history_recovered: Counter,
    pub history_not_recovered: Counter,
}

impl std::fmt::Debug for AppMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppMetrics")
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect::<Vec<_>>(),
    )
}

impl Metrics {
    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder.register_counter(&key(name, labels), &META)
    }

    fn counter_into(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        pick: fn(&Totals) -> &AtomicU64,
    ) -> Counter {
        Counter::from_arc(Arc::new(TeeCounter {
            inner: self.counter(name, labels),
            totals: self.totals.clone(),
            pick,
        }))
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &META)
    }

    /// Registers the handles of one app.
    pub fn app(&self, app: &str) -> AppMetrics {
        let a = [("app", app)];
        AppMetrics {
            connections: self.gauge(CONNECTIONS, &a),
            connections_opened: self.counter(CONNECTIONS_OPENED, &a),
            connections_closed: self.counter(CONNECTIONS_CLOSED, &a),
            ws_messages_received: self.counter_into(WS_MESSAGES_RECEIVED, &a, |t| &t.messages_in),
            ws_bytes_received: self.counter(WS_BYTES_RECEIVED, &a),
            ws_messages_sent: self.counter_into(WS_MESSAGES_SENT, &a, |t| &t.messages_out),
            ws_bytes_sent: self.counter(WS_BYTES_SENT, &a),
            http_bytes_received: self.counter(HTTP_BYTES_RECEIVED, &a),
            http_bytes_sent: self.counter(HTTP_BYTES_SENT, &a),
            api_events: self.counter_into(
                EVENTS_PUBLISHED,
                &[("app", app), ("source", "api")],
                |t| &t.messages_in,
            ),
            client_events: self.counter(EVENTS_PUBLISHED, &[("app", app), ("source", "client")]),
            channels: self.gauge(CHANNELS, &a),
            subscriptions: self.gauge(SUBSCRIPTIONS, &a),
            presence_members: self.gauge(PRESENCE_MEMBERS, &a),
            delivery_latency: Histogram::from_arc(Arc::new(TeeLatency {
                inner: self
                    .recorder
                    .register_histogram(&key(DELIVERY_LATENCY, &a), &META),
                totals: self.totals.clone(),
            })),
            slow_consumers: self.counter(SLOW_CONSUMERS, &a),
            rate_limited_client_events: self
                .counter(RATE_LIMITED, &[("app", app), ("limit", "client_events")]),
            rate_limited_backend_events: self
                .counter(RATE_LIMITED, &[("app", app), ("limit", "backend_events")]),
            rate_limited_read_requests: self
                .counter(RATE_LIMITED, &[("app", app), ("limit", "read_requests")]),
            history_appends: self.counter(HISTORY_APPENDS, &[("app", app), ("result", "ok")]),
            history_append_failures: self
                .counter(HISTORY_APPENDS, &[("app", app), ("result", "error")]),
            history_recovered: self.counter(
                HISTORY_RECOVERIES,
                &[("app", app), ("outcome", "recovered")],
            ),
            history_not_recovered: self.counter(
                HISTORY_RECOVERIES,
                &[("app", app), ("outcome", "not_recovered")],
            ),
        }
    }

    /// Registers the webhook handles.
    pub fn webhooks(&self) -> WebhookMetrics {
        let r = |result| [("result", result)];
        WebhookMetrics {
            queued: self.counter(WEBHOOK_EVENTS, &r("queued")),
            refused: self.counter(WEBHOOK_EVENTS, &r("refused")),
            delivered: self.counter(WEBHOOK_REQUESTS, &r("delivered")),
            failed: self.counter(WEBHOOK_REQUESTS, &r("failed")),
            dead: self.counter(WEBHOOK_REQUESTS, &r("dead")),
        }
    }

    /// A connection refused before it was established; `app` is empty for unknown keys.
    pub fn connection_refused(&self, app: &str, code: u16) {
        self.counter(
            CONNECTIONS_REFUSED,
            &[("app", app), ("code", &code.to_string())],
        )
        .increment(1);
    }

    /// One HTTP API request, by route template and status; `app` only for known apps.
    pub fn http_request(&self, app: &str, endpoint: &str, status: u16) {
        let status = status.to_string();
        self.counter(
            HTTP_REQUESTS,
            &[("app", app), ("endpoint", endpoint), ("status", &status)],
        )
        .increment(1);
    }

    /// Folds recorded histogram samples into their buckets. The recorder otherwise keeps every
    /// sample until the next scrape, so without a scraper memory would grow with every delivery.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_documented() {
        let doc = include_str!("../../../docs/operations.md");
        for (name, _) in ALL {
            assert!(
                doc.contains(&format!("| `{name}` |")),
                "docs/operations.md lacks {name}"
            );
        }
    }
}
