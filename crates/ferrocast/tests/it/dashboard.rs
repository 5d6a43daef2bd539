//! The dashboard's gate: absent without an admin token, a login that sets a strict session
//! cookie, wrong tokens refused, sessions that expire and end at logout, changes only from the
//! dashboard's own origin (CSRF), and the security headers — against a real server.

use crate::harness::dashboard::Browser;
use crate::harness::history::history_app;
use crate::harness::{assert_error, config, http_get, test_app, TestServer};
use ferrocast::config::{Config, DashboardConfig};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "dash-token-1";

fn with_token() -> Config {
    let mut cfg = config(vec![test_app()]);
    cfg.admin_token = Some(TOKEN.into());
    cfg
}

/// A server with `change` made to its dashboard settings, a browser logged in to it, and the
/// `Set-Cookie` the login answered.
async fn logged_in_with(
    change: impl FnOnce(&mut DashboardConfig),
) -> (TestServer, Browser, String) {
    let mut cfg = with_token();
    change(&mut cfg.dashboard);
    let server = TestServer::with_config(cfg).await;
    let mut b = Browser::new(&server);
    let ok = b.login(TOKEN).await;
    let cookie = ok.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    (server, b, cookie)
}

/// The dashboard's API refuses the browser: no session, or one that ended.
async fn assert_no_session(b: &Browser) {
    assert_error(
        &b.get_json("/dashboard/api/stats").await,
        401,
        "invalid_admin_token",
    );
}

#[tokio::test]
async fn absent_without_a_token_or_when_switched_off() {
    let server = TestServer::start().await;
    assert_error(
        &http_get(&format!("http://{}/dashboard/login", server.addr)).await,
        404,
        "not_found",
    );
    let mut cfg = with_token();
    cfg.dashboard.enabled = false;
    let server = TestServer::with_config(cfg).await;
    assert_error(
        &http_get(&format!("http://{}/dashboard", server.addr)).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn login_sets_a_strict_session_cookie_and_wrong_tokens_are_refused() {
    let server = TestServer::with_config(with_token()).await;
    let mut b = Browser::new(&server);

    let resp = b.request("GET", "/dashboard", None, None).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/dashboard/login");
    let page = b.request("GET", "/dashboard/login", None, None).await;
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.expect("html").contains("name=\"token\""));

    let wrong = b.login("not-the-token").await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong
        .text()
        .await
        .expect("html")
        .contains("Wrong admin token"));
    assert_eq!(b.cookie, None);
    assert_no_session(&b).await;

    let ok = b.login(TOKEN).await;
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(ok.headers()["location"], "/dashboard/");
    let cookie = ok.headers()["set-cookie"].to_str().expect("cookie");
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS, no Secure: {cookie}");

    let shell = b.request("GET", "/dashboard/", None, None).await;
    assert_eq!(shell.status().as_u16(), 200);
    assert!(shell.headers().contains_key("content-security-policy"));
    assert!(shell
        .text()
        .await
        .expect("html")
        .contains("/dashboard/assets/main.js"));
    let (status, stats) = b.get_json("/dashboard/api/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["apps"][0]["id"], "test-app");
    assert_eq!(stats["node"]["id"], server.shared.cluster.node());
    let (status, apps) = b.get_json("/dashboard/api/admin/apps").await;
    assert_eq!(
        (status, &apps["apps"][0]["secret"]),
        (200, &json!("(hidden)"))
    );

    // The bearer token is enough, whatever cookie comes with it (scripts, the CLI).
    let resp = reqwest::Client::new()
        .get(format!("{}/dashboard/api/stats", b.base))
        .bearer_auth(TOKEN)
        .header("cookie", "ferrocast_dashboard=stale")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);

    // A forged or stale cookie is no session.
    let mut forged = Browser::new(&server);
    forged.cookie = Some("ferrocast_dashboard=0123".into());
    assert_no_session(&forged).await;
}

#[tokio::test]
async fn the_login_form_only_counts_from_the_dashboards_own_origin() {
    let server = TestServer::with_config(with_token()).await;
    let b = Browser::new(&server);
    let resp = b
        .request(
            "POST",
            "/dashboard/login",
            None,
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn sessions_expire() {
    let (_server, b, cookie) = logged_in_with(|d| d.session_ttl = 1).await;
    assert!(cookie.contains("Max-Age=1"), "{cookie}");
    assert_eq!(b.get_json("/dashboard/api/stats").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_no_session(&b).await;
    let page = b.request("GET", "/dashboard/", None, None).await;
    assert_eq!(
        page.status().as_u16(),
        303,
        "an expired session goes back to the login"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let server = TestServer::with_config(with_token()).await;
    let mut b = Browser::new(&server);
    b.login(TOKEN).await;
    let origin = b.base.clone();
    let out = b
        .request("POST", "/dashboard/logout", None, Some(&origin))
        .await;
    assert_eq!(out.status().as_u16(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .expect("c")
        .contains("Max-Age=0"));
    assert_no_session(&b).await;
}

#[tokio::test]
async fn changes_need_the_dashboards_origin() {
    let server = TestServer::with_config(with_token()).await;
    let mut b = Browser::new(&server);
    b.login(TOKEN).await;
    let mut ws = server.connect("test-key").await;
    ws.subscribe("news").await;

    let path = "/dashboard/api/apps/test-app/events";
    let body = json!({"channel": "news", "event": "hello", "data": "{\"n\":1}"});
    for origin in [None, Some("http://evil.example"), Some("null")] {
        let resp = b.request("POST", path, Some(body.clone()), origin).await;
        let (status, err) = crate::harness::dashboard::json(resp).await;
        assert_error(&(status, err), 403, "cross_origin");
    }
    // Reads need no Origin; the admin API's writes are guarded the same way.
    let resp = b
        .request(
            "POST",
            "/dashboard/api/admin/apps/test-app/disable",
            None,
            None,
        )
        .await;
    assert_error(
        &crate::harness::dashboard::json(resp).await,
        403,
        "cross_origin",
    );
    // From its own origin the change goes through (here: the config store is read-only).
    assert_error(
        &b.send_json(
            "POST",
            "/dashboard/api/admin/apps/test-app/disable",
            json!({}),
        )
        .await,
        409,
        "read_only_store",
    );

    // The test event reaches a subscriber, as an API publish would; its errors are the API's.
    assert_eq!(b.send_json("POST", path, body).await, (200, json!({})));
    let ev = ws.wait_for("hello").await;
    assert_eq!(
        (ev["channel"].as_str(), ev["data"].as_str()),
        (Some("news"), Some("{\"n\":1}"))
    );
    let bad = json!({"channel": "bad channel!", "event": "e", "data": ""});
    assert_error(
        &b.send_json("POST", path, bad).await,
        400,
        "invalid_channel",
    );
    let nope = json!({"channel": "news", "event": "e", "data": ""});
    assert_error(
        &b.send_json("POST", "/dashboard/api/apps/nope/events", nope)
            .await,
        404,
        "app_not_found",
    );
}

#[tokio::test]
async fn the_cookie_is_secure_when_asked() {
    let (_server, _, cookie) = logged_in_with(|d| d.secure_cookie = true).await;
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn assets_are_embedded_with_their_types() {
    let server = TestServer::with_config(with_token()).await;
    let b = Browser::new(&server);
    for (file, kind) in [("main.js", "text/javascript"), ("style.css", "text/css")] {
        let resp = b
            .request("GET", &format!("/dashboard/assets/{file}"), None, None)
            .await;
        assert_eq!(resp.status().as_u16(), 200, "{file}");
        let ct = resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .to_owned();
        assert!(ct.starts_with(kind), "{file}: {ct}");
        assert!(resp.headers().contains_key("content-security-policy"));
        assert!(!resp.text().await.expect("body").is_empty());
    }
    let missing = b.request("GET", "/dashboard/assets/../x", None, None).await;
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn channels_show_counts_members_and_the_cached_event() {
    let server = TestServer::with_config(with_token()).await;
    let app = test_app();
    let mut b = Browser::new(&server);
    b.login(TOKEN).await;
    let mut a = server.connect("test-key").await;
    a.join(&app, "presence-room", "u1", json!({})).await;
    let mut c = server.connect("test-key").await;
    c.subscribe("cache-last").await;
    server
        .api(&app)
        .publish("cache-last", "tick", "{\"v\":7}")
        .await;
    c.wait_for("tick").await;

    let (status, body) = b.get_json("/dashboard/api/apps/test-app/channels").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 2);
    let find = |name: &str| {
        body["channels"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} missing from {body}"))
    };
    let room = find("presence-room");
    assert_eq!(
        (
            room["subscription_count"].as_u64(),
            room["user_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(room["members"], json!(["u1"]));
    let cache = find("cache-last");
    assert_eq!(cache["cached"]["event"], "tick");
    assert_eq!(cache["cached"]["data"], "{\"v\":7}");
    assert_eq!(cache["members"], json!(null));
}

#[tokio::test]
async fn channels_show_the_history_of_history_channels() {
    let mut cfg = config(vec![history_app(100, 60)]);
    cfg.admin_token = Some(TOKEN.into());
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&test_app());
    let mut b = Browser::new(&server);
    b.login(TOKEN).await;
    let mut ws = server.connect("test-key").await;
    ws.subscribe("history-log").await;
    ws.subscribe("plain").await;
    for i in 1..=7 {
        api.publish("history-log", "e", &format!("{{\"n\":{i}}}"))
            .await;
    }
    let long = "x".repeat(3000);
    api.publish("history-log", "big", &long).await;
    ws.wait_for("big").await;

    let (status, body) = b.get_json("/dashboard/api/apps/test-app/channels").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["history"], true, "the app keeps history");
    let find = |name: &str| {
        body["channels"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} missing from {body}"))
    };
    assert_eq!(find("plain")["history"], json!(null));
    let h = find("history-log")["history"].clone();
    assert_eq!(h["offset"], 8, "{h}");
    assert!(h["epoch"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    let messages = h["messages"].as_array().expect("messages");
    let offsets: Vec<u64> = messages
        .iter()
        .filter_map(|m| m["offset"].as_u64())
        .collect();
    assert_eq!(offsets, [8, 7, 6, 5, 4], "the newest five, newest first");
    assert_eq!(
        (
            messages[0]["event"].as_str(),
            messages[0]["truncated"].as_bool()
        ),
        (Some("big"), Some(true))
    );
    assert_eq!(messages[0]["data"].as_str().map(str::len), Some(1024));
    assert_eq!(
        (messages[1]["event"].as_str(), messages[1]["data"].as_str()),
        (Some("e"), Some("{\"n\":7}"))
    );
    assert!(messages[1]["id"].is_string() && messages[1]["time"].as_u64().is_some());

    // An app without history rules says so.
    let plain = TestServer::with_config(with_token()).await;
    let mut b = Browser::new(&plain);
    b.login(TOKEN).await;
    let (_, body) = b.get_json("/dashboard/api/apps/test-app/channels").await;
    assert_eq!(body["history"], false, "{body}");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let server = TestServer::with_config(with_token()).await;
    let mut b = Browser::new(&server);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(b.login("guess").await.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "a burst of guesses is slowed: {statuses:?}"
    );
    assert_eq!(b.cookie, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_every_node_of_a_cluster() {
    use crate::harness::cluster::{node_config, unique_prefix, wait_meshed, REDIS};
    use ferrocast::config::AdapterKind;
    let prefix = unique_prefix();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut cfg = node_config(AdapterKind::Redis, REDIS, &prefix, vec![test_app()]);
        cfg.admin_token = Some(TOKEN.into());
        nodes.push(TestServer::with_config(cfg).await);
    }
    wait_meshed(&nodes).await;
    let _client = nodes[1].connect("test-key").await;
    let mut b = Browser::new(&nodes[0]);
    b.login(TOKEN).await;
    let other = nodes[1].shared.cluster.node();
    crate::harness::eventually_async("node 0 to see node 1's load and connection", || async {
        let (_, stats) = b.get_json("/dashboard/api/stats").await;
        stats["cluster"]["peers"].as_array().is_some_and(|peers| {
            peers.iter().any(|p| {
                p["node"] == other
                    && p["connections"] == 1
                    && p["stats"]["rss_bytes"].as_u64().is_some_and(|m| m > 0)
                    && p["stats"]["messages_out"].as_u64().is_some()
            })
        })
    })
    .await;
    let (_, stats) = b.get_json("/dashboard/api/stats").await;
    assert_eq!(stats["cluster"]["adapter"], "redis");
    assert_eq!(
        stats["node"]["connections"], 0,
        "the client is on the other node"
    );
}
