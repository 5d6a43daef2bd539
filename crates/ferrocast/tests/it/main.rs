//! The one integration-test binary: every test starts a real server on loopback and drives it
//! over real sockets.

#![allow(unreachable_pub, dead_code)]

mod harness;

mod api_auth;
mod api_channels;
mod api_events;
mod apps_admin;
mod apps_live;
mod apps_store;
mod cluster_nats;
mod cluster_redis;
mod cluster_redis_deploy;
mod cluster_scenarios;
mod dashboard;
mod dashboard_feed;
mod history_api;
mod history_recovery;
mod history_stores;
mod hooks_server;
mod hostile_http;
mod hostile_ips;
mod hostile_ws;
mod ops_limits;
mod ops_metrics;
mod ops_shutdown;
mod ops_tls;
mod secrets;
mod webhooks_cluster;
mod webhooks_delivery;
mod webhooks_events;
mod webhooks_shared_queue;
mod ws_channels;
mod ws_client_events;
mod ws_connect;
mod ws_errors;
mod ws_framing;
mod ws_handshake;
mod ws_presence;
mod ws_users;
