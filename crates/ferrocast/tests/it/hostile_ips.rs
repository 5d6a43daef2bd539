//! One address opening thousands of WebSockets: the per-address cap
//! (`clients.max_connections_per_ip`) refuses the excess with 4100 while the address's open
//! sockets and every other address carry on, places come back on disconnect, and
//! `X-Forwarded-For` counts only from a trusted proxy.

use crate::harness::process::{self, ProcessNode};
use crate::harness::{config, test_app, ApiClient, TestServer, WsClient};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PATH: &str = "/app/test-key?protocol=7&client=js&version=8.4.0";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// Opens a WebSocket from `from` and answers whether it was let in (connection_established)
/// or refused with 4100 (pusher:error, then the close); anything else fails the test.
async fn attempt(from: IpAddr, addr: SocketAddr, xff: Option<&str>) -> Option<WsClient> {
    let mut req = format!("ws://{addr}{PATH}")
        .into_client_request()
        .expect("request");
    if let Some(v) = xff {
        req.headers_mut()
            .insert("x-forwarded-for", v.parse().expect("header"));
    }
    let mut c = WsClient::open_from(from, addr, req).await;
    let first = c.next_event().await;
    match first["event"].as_str() {
        Some("pusher:connection_established") => Some(c),
        Some("pusher:error") => {
            assert_eq!(first["data"]["code"], 4100, "{first}");
            c.expect_close(4100).await;
            None
        }
        _ => panic!("unexpected first frame {first}"),
    }
}

fn start_capped(cap: usize) -> ProcessNode {
    process::spawn(
        &format!("per-ip-{cap}"),
        &format!(
            r#"
app_store = "config"

[clients]
max_connections_per_ip = {cap}
trusted_proxies = []

[[apps]]
id = "test-app"
key = "test-key"
secret = "test-secret"
"#
        ),
    )
}

#[tokio::test]
async fn one_address_opening_a_thousand_sockets_gets_only_its_share() {
    let server = start_capped(20);
    let addr = server.addr();
    let api = ApiClient::new(format!("http://{addr}"), test_app());
    let before = server.memory();
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut c = attempt(ip("127.0.0.2"), addr, None)
            .await
            .expect("within the cap");
        c.subscribe("news").await;
        held.push(c);
    }
    // A thousand more from the same address, fifty at a time: every one refused.
    for _ in 0..20 {
        let batch: Vec<_> = (0..50)
            .map(|_| tokio::spawn(attempt(ip("127.0.0.2"), addr, None)))
            .collect();
        for a in batch {
            assert!(a.await.expect("attempt").is_none(), "let in beyond the cap");
        }
    }
    // Another address is not affected, and the open sockets still get their events.
    let mut other = attempt(ip("127.0.0.3"), addr, None)
        .await
        .expect("another address");
    other.subscribe("news").await;
    api.publish("news", "still-here", "x").await;
    for c in held.iter_mut().chain(std::iter::once(&mut other)) {
        c.expect("still-here").await;
    }
    server.assert_memory_within(before, 32, "a thousand refused connections");
    // Closing five gives five places back.
    held.truncate(15);
    let mut back = 0;
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while back < 5 {
        assert!(
            tokio::time::Instant::now() < end,
            "only {back} places came back"
        );
        match attempt(ip("127.0.0.2"), addr, None).await {
            Some(c) => {
                back += 1;
                held.push(c);
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(
        attempt(ip("127.0.0.2"), addr, None).await.is_none(),
        "the cap holds again"
    );
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let mut cfg = config(vec![test_app()]);
    cfg.clients.max_connections_per_ip = 2;
    cfg.clients.trusted_proxies = vec!["127.0.0.1".into()];
    let server = TestServer::with_config(cfg).await;
    let (proxy, direct) = (ip("127.0.0.1"), ip("127.0.0.4"));
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(
            attempt(proxy, server.addr, Some("9.9.9.9"))
                .await
                .expect("in"),
        );
    }
    assert!(attempt(proxy, server.addr, Some("9.9.9.9")).await.is_none());
    // The nearest untrusted hop counts, whatever the client put before it.
    open.push(
        attempt(proxy, server.addr, Some("9.9.9.9, 8.8.8.8"))
            .await
            .expect("another client behind the proxy"),
    );
    // A peer that is not a trusted proxy is counted by its own address.
    for xff in ["1.1.1.1", "2.2.2.2"] {
        open.push(attempt(direct, server.addr, Some(xff)).await.expect("in"));
    }
    assert!(attempt(direct, server.addr, Some("3.3.3.3"))
        .await
        .is_none());
    assert_eq!(server.shared.peers.count(ip("9.9.9.9")), 2);
    assert_eq!(server.shared.peers.count(direct), 2);
    drop(open);
    crate::harness::eventually("every place is given back", || {
        server.shared.peers.count(ip("9.9.9.9")) == 0 && server.shared.peers.count(direct) == 0
    })
    .await;
}
