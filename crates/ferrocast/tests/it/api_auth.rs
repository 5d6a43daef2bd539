//! Request signing over real HTTP: every way a signature can fail, app routing and isolation,
//! the probes, unknown paths, and the SDK quirks the server tolerates.

use crate::harness::{
    assert_error, config, http_get, now, sign_exact, test_app, ApiClient, TestServer,
};
use ferrocast::config::AppConfig;
use ferrocast_protocol::signature;
use serde_json::{json, Value};

const EVENTS: &str = "/apps/test-app/events";
const CHANNELS: &str = "/apps/test-app/channels";

fn publish_body() -> Value {
    json!({"name": "e", "channels": ["c"], "data": "d"})
}

fn app(id: &str, key: &str, secret: &str) -> AppConfig {
    AppConfig {
        id: id.into(),
        key: key.into(),
        secret: secret.into(),
        ..Default::default()
    }
}

/// The query the SDKs send for a GET of `path` signed now with `extra` params.
fn signed_get(app: &AppConfig, path: &str, extra: &[(&str, &str)]) -> String {
    signature::signed_query(&app.key, &app.secret, "GET", path, b"", now(), extra)
}

/// GETs `path?query` exactly as given.
async fn get_raw(api: &ApiClient, path: &str, query: &str) -> (u16, Value) {
    api.raw("GET", &format!("{path}?{query}"), vec![]).await
}

/// The auth params of a request signed now with `auth_version` = `version`.
fn auth_params<'a>(ts: &'a str, version: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("auth_key", "test-key"),
        ("auth_timestamp", ts),
        ("auth_version", version),
    ]
}

#[tokio::test]
async fn wrong_secret_and_tampering_are_invalid_signatures() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let body = publish_body();
    let resp = api
        .request_as("POST", EVENTS, &[], Some(&body), "wrong-secret", now())
        .await;
    assert_error(&resp, 401, "invalid_signature");
    let resp = api
        .request_as("GET", CHANNELS, &[], None, "wrong-secret", now())
        .await;
    assert_error(&resp, 401, "invalid_signature");
    // A query parameter changed after signing.
    let q = signed_get(&app, CHANNELS, &[("filter_by_prefix", "a")]);
    let resp = get_raw(&api, CHANNELS, &q.replace("prefix=a", "prefix=b")).await;
    assert_error(&resp, 401, "invalid_signature");
    // Signed for another path.
    let q = signed_get(&app, "/apps/test-app/channels/x", &[]);
    assert_error(&get_raw(&api, CHANNELS, &q).await, 401, "invalid_signature");
    // A signature that is not hex.
    let q = signed_get(&app, CHANNELS, &[]);
    let garbled = format!("{}zz", &q[..q.len() - 2]);
    assert_error(
        &get_raw(&api, CHANNELS, &garbled).await,
        401,
        "invalid_signature",
    );
}

#[tokio::test]
async fn a_body_changed_after_signing_is_refused() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let signed = publish_body().to_string();
    let q = signature::signed_query(
        &app.key,
        &app.secret,
        "POST",
        EVENTS,
        signed.as_bytes(),
        now(),
        &[],
    );
    let url = format!("{EVENTS}?{q}");
    let other = json!({"name": "evil", "channels": ["c"], "data": "d"}).to_string();
    let resp = api.raw("POST", &url, other.clone().into_bytes()).await;
    assert_error(&resp, 401, "body_md5_mismatch");
    // Fixing body_md5 too breaks the signature instead.
    let (md5_signed, md5_other) = (
        signature::body_md5(signed.as_bytes()),
        signature::body_md5(other.as_bytes()),
    );
    let resp = api
        .raw(
            "POST",
            &url.replace(&md5_signed, &md5_other),
            other.into_bytes(),
        )
        .await;
    assert_error(&resp, 401, "invalid_signature");
    assert_eq!(
        api.raw("POST", &url, signed.into_bytes()).await,
        (200, json!({}))
    );
}

#[tokio::test]
async fn timestamps_must_be_within_600_seconds() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let body = publish_body();
    // Five seconds either side of the edge: the test's clock reading and the server's may fall
    // in different seconds, and a boundary of ±1 s made this test fail about once a day.
    for ts in [now() - 605, now() + 605, 0] {
        let resp = api
            .request_as("POST", EVENTS, &[], Some(&body), &app.secret, ts)
            .await;
        assert_error(&resp, 401, "expired_timestamp");
    }
    for ts in [now() - 595, now() + 595] {
        let resp = api
            .request_as("POST", EVENTS, &[], Some(&body), &app.secret, ts)
            .await;
        assert_eq!(resp, (200, json!({})), "ts {ts} at {}", now());
    }
    let q = sign_exact(&app.secret, "GET", CHANNELS, &auth_params("soon", "1.0"));
    assert_error(&get_raw(&api, CHANNELS, &q).await, 401, "expired_timestamp");
}

#[tokio::test]
async fn unknown_key_missing_parameters_and_other_auth_versions() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let stranger = server.api(&AppConfig {
        key: "no-such-key".into(),
        ..test_app()
    });
    assert_error(
        &stranger.get("/channels", &[]).await,
        401,
        "invalid_auth_key",
    );
    assert_error(
        &stranger.post("/events", publish_body()).await,
        401,
        "invalid_auth_key",
    );
    let q = signed_get(&app, CHANNELS, &[]);
    for dropped in [
        "auth_key",
        "auth_timestamp",
        "auth_version",
        "auth_signature",
    ] {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|kv| !kv.starts_with(&format!("{dropped}=")))
            .collect();
        assert_error(
            &get_raw(&api, CHANNELS, &kept.join("&")).await,
            401,
            "missing_auth_parameter",
        );
    }
    assert_error(
        &api.raw("GET", CHANNELS, vec![]).await,
        401,
        "missing_auth_parameter",
    );
    // A body but no body_md5, correctly signed otherwise.
    let ts = now().to_string();
    let q = sign_exact(&app.secret, "POST", EVENTS, &auth_params(&ts, "1.0"));
    let resp = api
        .raw(
            "POST",
            &format!("{EVENTS}?{q}"),
            publish_body().to_string().into_bytes(),
        )
        .await;
    assert_error(&resp, 401, "missing_auth_parameter");
    for version in ["2.0", "1", ""] {
        let q = sign_exact(&app.secret, "GET", CHANNELS, &auth_params(&ts, version));
        assert_error(
            &get_raw(&api, CHANNELS, &q).await,
            401,
            "invalid_auth_version",
        );
    }
}

#[tokio::test]
async fn app_id_in_the_path_must_be_the_keys_app_and_enabled() {
    let off = AppConfig {
        enabled: false,
        ..app("off-app", "off-key", "off-secret")
    };
    let server = TestServer::with_config(config(vec![test_app(), off.clone()])).await;
    let misrouted = server.api(&AppConfig {
        id: "off-app".into(),
        ..test_app()
    });
    assert_error(&misrouted.get("/channels", &[]).await, 404, "app_not_found");
    assert_error(
        &misrouted.post("/events", publish_body()).await,
        404,
        "app_not_found",
    );
    let unknown_id = server.api(&AppConfig {
        id: "999".into(),
        ..test_app()
    });
    assert_error(
        &unknown_id.get("/channels/c", &[]).await,
        404,
        "app_not_found",
    );
    let disabled = server.api(&off);
    assert_error(&disabled.get("/channels", &[]).await, 403, "app_disabled");
    assert_error(
        &disabled.post("/events", publish_body()).await,
        403,
        "app_disabled",
    );
}

#[tokio::test]
async fn sdk_quirks_are_tolerated() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let empty = json!({"channels": {}});
    // The Python SDK sends body_md5 of the empty body on GET.
    let md5 = signature::body_md5(b"");
    assert_eq!(md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        get_raw(
            &api,
            CHANNELS,
            &signed_get(&app, CHANNELS, &[("body_md5", &md5)])
        )
        .await,
        (200, empty.clone())
    );
    // Values are signed unescaped; on the wire a space may be raw (reqwest sends %20) or `+`.
    let resp = api
        .get(
            "/channels",
            &[
                ("filter_by_prefix", "presence-"),
                ("note", "Something else"),
            ],
        )
        .await;
    assert_eq!(resp, (200, empty.clone()));
    let q = signed_get(&app, CHANNELS, &[("note", "Something else")]);
    assert!(q.contains("note=Something+else"), "{q}");
    // The Node and Python SDKs send such values raw; a space may also arrive as `%20`.
    for wire in [q.replace('+', " "), q.clone(), q.replace('+', "%20")] {
        assert_eq!(
            get_raw(&api, CHANNELS, &wire).await,
            (200, empty.clone()),
            "{wire}"
        );
    }
    // The path is signed unescaped but may be sent percent-encoded, or signed as sent.
    let mut c = server.connect("test-key").await;
    c.subscribe("a@b").await;
    let q = signed_get(&app, "/apps/test-app/channels/a@b", &[]);
    let resp = get_raw(&api, "/apps/test-app/channels/a%40b", &q).await;
    assert_eq!(resp, (200, json!({"occupied": true})));
    assert_eq!(
        api.get("/channels/a%40b", &[]).await,
        (200, json!({"occupied": true}))
    );
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let base = format!("http://{}", server.addr);
    for path in [
        "/nope",
        "/apps/test-app/nothing",
        "/apps/test-app/channels/a/b/c",
        "/app",
    ] {
        assert_error(&http_get(&format!("{base}{path}")).await, 404, "not_found");
    }
    let resp = api
        .raw("POST", "/apps/test-app/unknown", b"{}".to_vec())
        .await;
    assert_error(&resp, 404, "not_found");
    assert_error(
        &http_get(&format!("http://{}/nope", server.ops_addr)).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn wrong_methods_get_a_json_405() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let base = format!("http://{}", server.addr);
    assert_error(
        &http_get(&format!("{base}/apps/test-app/events")).await,
        405,
        "method_not_allowed",
    );
    let resp = api.raw("POST", "/health", b"{}".to_vec()).await;
    assert_error(&resp, 405, "method_not_allowed");
}

#[tokio::test]
async fn probes_answer_json_on_both_listeners() {
    let server = TestServer::start().await;
    let (main, ops) = (server.addr, server.ops_addr);
    let (ok, ready) = ((200, json!({"ok": true})), (200, json!({"ready": true})));
    assert_eq!(http_get(&format!("http://{main}/")).await, ok);
    assert_eq!(http_get(&format!("http://{main}/health")).await, ok);
    assert_eq!(http_get(&format!("http://{main}/ready")).await, ready);
    assert_eq!(http_get(&format!("http://{ops}/health")).await, ok);
    assert_eq!(http_get(&format!("http://{ops}/ready")).await, ready);
}

#[tokio::test]
async fn python_sdk_terminate_path_without_apps_prefix_works_when_signed() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    assert_eq!(
        c.signin(&app, json!({"id": "u1"})).await["event"],
        "pusher:signin_success"
    );
    let path = "/users/u1/terminate_connections";
    let body = json!({});
    assert_error(
        &api.raw("POST", path, b"{}".to_vec()).await,
        401,
        "missing_auth_parameter",
    );
    let resp = api
        .request_as("POST", path, &[], Some(&body), "wrong-secret", now())
        .await;
    assert_error(&resp, 401, "invalid_signature");
    let resp = api
        .request_as("POST", path, &[], Some(&body), &app.secret, now())
        .await;
    assert_eq!(resp, (200, json!({})));
    c.expect_error_and_close(4009).await;
}

#[tokio::test]
async fn apps_are_isolated() {
    let (app1, app2) = (app("1", "key-1", "secret-1"), app("2", "key-2", "secret-2"));
    let server = TestServer::with_config(config(vec![app1.clone(), app2.clone()])).await;
    let (api1, api2) = (server.api(&app1), server.api(&app2));
    let mut c1 = server.connect("key-1").await;
    c1.subscribe("shared").await;
    c1.subscribe("only-1").await;
    let mut c2 = server.connect("key-2").await;
    c2.subscribe("shared").await;
    // App 2's key cannot reach app 1's routes, even signing correctly with its own secret…
    let body = json!({"name": "e", "channels": ["shared"], "data": "intruder"});
    let resp = api2
        .request_as(
            "POST",
            "/apps/1/events",
            &[],
            Some(&body),
            "secret-2",
            now(),
        )
        .await;
    assert_error(&resp, 404, "app_not_found");
    // …nor can app 1's key with app 2's secret.
    let resp = api1
        .request_as(
            "POST",
            "/apps/1/events",
            &[],
            Some(&body),
            "secret-2",
            now(),
        )
        .await;
    assert_error(&resp, 401, "invalid_signature");
    // Same channel name, different apps: each app's publish stays in that app.
    let ev = |event: &str, channel: &str, data: &str| json!({"event": event, "channel": channel, "data": data});
    api2.publish("shared", "e", "for-2").await;
    assert_eq!(c2.next_event().await, ev("e", "shared", "for-2"));
    api1.publish("shared", "marker", "m").await;
    assert_eq!(c1.next_event().await, ev("marker", "shared", "m"));
    // Each app sees only its own channels.
    assert_eq!(
        api1.get("/channels", &[]).await,
        (200, json!({"channels": {"only-1": {}, "shared": {}}}))
    );
    assert_eq!(
        api2.get("/channels", &[]).await,
        (200, json!({"channels": {"shared": {}}}))
    );
    let resp = api2
        .get("/channels/only-1", &[("info", "subscription_count")])
        .await;
    assert_eq!(
        resp,
        (200, json!({"occupied": false, "subscription_count": 0}))
    );
    // App 2 cannot terminate app 1's users either.
    assert_eq!(
        c1.signin(&app1, json!({"id": "u"})).await["event"],
        "pusher:signin_success"
    );
    assert_eq!(
        api2.post("/users/u/terminate_connections", json!({})).await,
        (200, json!({}))
    );
    api1.publish("only-1", "still", "here").await;
    assert_eq!(c1.next_event().await, ev("still", "only-1", "here"));
}
