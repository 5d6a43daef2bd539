//! Ferrocast: a self-hosted real-time server speaking the Pusher Channels protocol.
//!
//! # Layout
//! - `config` — the typed configuration: defaults, TOML file, `FERROCAST_*` env, flags.
//! - `server` — binds the listeners, wires the state, runs and drains.
//! - `ws` — the WebSocket edge: admission (`ws::upgrade`), the connection actor
//!   (`ws/session.rs`), per-message handling (`ws/connection.rs`) and keep-alives.
//! - `api` — the signed Pusher HTTP API (`api/signed.rs` checks signatures) and probes.
//! - `channels` — each app's channel registry: subscriptions, presence, cache, fan-out;
//!   `channels/users.rs` for signed-in users and watchlists.
//! - `peers` — client addresses (trusted proxies) and the per-address connection cap.
//! - `outbox` — the bounded queue to one connection; slow consumers are closed (4100).
//! - `apps` — apps and their live state, loaded from an `AppStore` (config file, SQL).
//! - `cluster` — cluster semantics (fan-out, replicated presence, heartbeats, queries) over an
//!   `adapter` (local, Redis pub/sub, NATS).
//! - `history` — channel history: stores, ordered appends, recovery on subscribe.
//! - `metrics` — every exported metric; `listener` — the accept loop (TLS via `tls`).
//! - `url_parts` — credentials split out of broker/database URLs, percent-decoding.
//! - `cli` — `ferrocast publish`, a signed publish from the command line.
//! - `dashboard` — the browser dashboard at `/dashboard` (sessions, pages, JSON and the live
//!   feed); `debug_feed` — each app's debug tap, free while nobody watches.
//! - `webhooks` — Pusher webhooks: batching, a durable queue, retries, dead letters.
//! - `hooks` — server hooks: the app decides on connections, subscriptions, client events.
//!
//! # The life of one event
//! `POST /apps/{id}/events` → `api::signed` checks the signature → `api::events` validates and
//! encodes the frame once per channel → `channels::Registry::publish` clones the bytes into
//! each subscriber's `outbox` → each `ws::session` task writes its queue to its socket.

pub mod adapter;
pub mod api;
pub mod apps;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod debug_feed;
pub mod frame;
pub mod history;
pub mod hooks;
pub mod listener;
pub mod metrics;
pub mod outbox;
pub mod peers;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod tls;
pub mod url_parts;
pub mod webhooks;
pub mod ws;

pub use config::Config;
pub use server::Server;
