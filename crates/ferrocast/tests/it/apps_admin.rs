//! The admin API's gatekeeping and the secret-rotation window, on the read-only config store.
//! (Writes through the admin API against a database store: `apps_live.rs`.)

use crate::harness::{assert_error, config, http_get, now, test_app, TestServer};
use ferrocast::config::AppConfig;
use serde_json::json;

async fn admin(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let url = format!("http://{}{path}", server.addr);
    let client = reqwest::Client::new();
    let mut req = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&json!({})),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn without_a_token_the_admin_api_does_not_exist() {
    let server = TestServer::start().await;
    let resp = http_get(&format!("http://{}/admin/apps", server.addr)).await;
    assert_error(&resp, 404, "not_found");
}

#[tokio::test]
async fn the_token_is_required_and_secrets_stay_hidden() {
    let mut cfg = config(vec![test_app()]);
    cfg.admin_token = Some("s3cret-admin".into());
    let server = TestServer::with_config(cfg).await;
    assert_error(
        &admin(&server, "GET", "/admin/apps", None).await,
        401,
        "invalid_admin_token",
    );
    assert_error(
        &admin(&server, "GET", "/admin/apps", Some("wrong")).await,
        401,
        "invalid_admin_token",
    );
    let (status, body) = admin(&server, "GET", "/admin/apps", Some("s3cret-admin")).await;
    assert_eq!(status, 200);
    assert_eq!(body["apps"][0]["id"], "test-app");
    assert_eq!(body["apps"][0]["key"], "test-key");
    assert_eq!(body["apps"][0]["secret"], "(hidden)");
    assert!(
        !body.to_string().contains("test-secret"),
        "no secret in {body}"
    );
    let (status, one) = admin(&server, "GET", "/admin/apps/test-app", Some("s3cret-admin")).await;
    assert_eq!((status, &one["secret"]), (200, &json!("(hidden)")));
    assert_error(
        &admin(&server, "GET", "/admin/apps/nope", Some("s3cret-admin")).await,
        404,
        "app_not_found",
    );
    // Apps from the configuration file only change by editing the file.
    let resp = admin(
        &server,
        "POST",
        "/admin/apps/test-app/disable",
        Some("s3cret-admin"),
    )
    .await;
    assert_error(&resp, 409, "read_only_store");
}

fn rotating(expires_at: u64) -> AppConfig {
    AppConfig {
        secret: "new-secret".into(),
        previous_secret: Some("test-secret".into()),
        previous_secret_expires_at: Some(expires_at),
        ..test_app()
    }
}

#[tokio::test]
async fn the_previous_secret_works_until_its_window_ends() {
    let inside = rotating(now() + 3600);
    let server = TestServer::with_app(inside.clone()).await;
    let body = json!({"name": "e", "channel": "c", "data": "d"});
    // The harness signs with `test-secret`, the previous one.
    let old = server.api(&test_app());
    assert_eq!(old.post("/events", body.clone()).await.0, 200);
    assert_eq!(
        server.api(&inside).post("/events", body.clone()).await.0,
        200
    );
    let mut c = server.connect("test-key").await;
    c.subscribe_private(&test_app(), "private-old").await;
    c.subscribe_private(&inside, "private-new").await;

    let expired = rotating(now() - 1);
    let server = TestServer::with_app(expired.clone()).await;
    assert_error(
        &server.api(&test_app()).post("/events", body.clone()).await,
        401,
        "invalid_signature",
    );
    assert_eq!(server.api(&expired).post("/events", body).await.0, 200);
    let mut c = server.connect("test-key").await;
    let auth = c.auth(&test_app(), "private-old", None);
    c.subscribe_raw(json!({"channel": "private-old", "auth": auth}))
        .await;
    assert_eq!(
        c.expect("pusher:subscription_error").await["data"]["type"],
        "AuthError"
    );
}
