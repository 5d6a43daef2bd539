//! Server hooks against a real HTTP receiver on loopback: connect, subscribe and publish, each
//! allowing, denying (the client sees a Pusher error), supplying or rewriting, and timing out
//! under each failure mode. Hook requests are signed like webhooks.

use crate::harness::raw::RawClient;
use crate::harness::receiver::Receiver;
use crate::harness::{test_app, TestServer, WsClient};
use ferrocast::config::{AppConfig, FailureMode, Hook, HooksConfig};
use ferrocast_protocol::signature;
use serde_json::{json, Value};

fn hook(receiver: &Receiver, path: &str, failure: FailureMode) -> Option<Hook> {
    Some(Hook {
        url: receiver.url(path),
        timeout_ms: 200,
        failure,
    })
}

async fn server_with(hooks: HooksConfig) -> (AppConfig, TestServer) {
    let app = AppConfig {
        hooks,
        ..test_app()
    };
    (app.clone(), TestServer::with_app(app).await)
}

/// A server whose `which` hook (connect, subscribe or publish) answers too late, failing `failure`.
async fn slow_hook(which: &str, failure: FailureMode) -> (Receiver, AppConfig, TestServer) {
    let receiver = Receiver::start().await;
    receiver.set_delay_ms(1000);
    let h = hook(&receiver, &format!("/{which}"), failure);
    let hooks = match which {
        "connect" => HooksConfig {
            connect: h,
            ..Default::default()
        },
        "subscribe" => HooksConfig {
            subscribe: h,
            ..Default::default()
        },
        _ => HooksConfig {
            publish: h,
            ..Default::default()
        },
    };
    let (app, server) = server_with(hooks).await;
    (receiver, app, server)
}

/// The last request the receiver got, checked for its signature.
fn last_signed(receiver: &Receiver) -> Value {
    let r = receiver.requests().pop().expect("a hook request");
    assert_eq!(r.header("x-pusher-key"), "test-key");
    let body = std::str::from_utf8(&r.body).expect("utf-8");
    assert!(
        signature::verify("test-secret", body, r.header("x-pusher-signature")),
        "hook request signed with the app secret"
    );
    r.json()
}

#[tokio::test]
async fn connect_hook_denies_or_signs_the_connection_in() {
    let receiver = Receiver::start().await;
    let hooks = HooksConfig {
        connect: hook(&receiver, "/connect", FailureMode::Deny),
        subscribe: hook(&receiver, "/subscribe", FailureMode::Deny),
        ..Default::default()
    };
    let (_, server) = server_with(hooks).await;
    receiver.set_answer(json!({"allow": false, "message": "banned here"}));
    let mut refused = WsClient::open(&server.ws_url("test-key", "protocol=7")).await;
    let message = refused.expect_error(4009).await;
    assert_eq!(message, "banned here");
    refused.expect_close(4009).await;
    let request = last_signed(&receiver);
    assert_eq!(request["hook"], "connect");
    assert!(request["socket_id"]
        .as_str()
        .is_some_and(|s| s.contains('.')));

    receiver.set_answer(json!({"allow": true, "user_id": "u-42", "user_info": {"n": 1}}));
    let mut c = server.connect("test-key").await;
    c.subscribe("room").await;
    let request = last_signed(&receiver);
    assert_eq!(
        (&request["hook"], &request["channel"], &request["user_id"]),
        (&json!("subscribe"), &json!("room"), &json!("u-42")),
        "the connection is signed in as the hook's user"
    );
}

#[tokio::test]
async fn connect_hook_timeout_follows_its_failure_mode() {
    for (failure, admitted) in [(FailureMode::Deny, false), (FailureMode::Allow, true)] {
        let (_receiver, _, server) = slow_hook("connect", failure).await;
        let mut c = WsClient::open(&server.ws_url("test-key", "protocol=7")).await;
        let first = c.next_event().await;
        if admitted {
            assert_eq!(
                first["event"], "pusher:connection_established",
                "{failure:?}"
            );
        } else {
            assert_eq!(first["data"]["code"], 4009, "{failure:?}: {first}");
            assert_eq!(
                first["data"]["message"],
                "The app's connect hook is unavailable"
            );
        }
    }
}

#[tokio::test]
async fn a_slow_connect_hook_does_not_hold_back_the_handshake() {
    let receiver = Receiver::start().await;
    receiver.set_delay_ms(1000);
    let hooks = HooksConfig {
        connect: Some(Hook {
            url: receiver.url("/connect"),
            timeout_ms: 5000,
            failure: FailureMode::Allow,
        }),
        ..Default::default()
    };
    let (_, server) = server_with(hooks).await;
    let started = std::time::Instant::now();
    let mut c = RawClient::websocket(server.addr, "/app/test-key?protocol=7").await;
    let switched = started.elapsed();
    assert!(
        switched < std::time::Duration::from_millis(700),
        "the 101 waited for the hook: {switched:?}"
    );
    let (_, first) = c.read_frame().await.expect("a first frame after the hook");
    let first: Value = serde_json::from_slice(&first).expect("json");
    assert_eq!(first["event"], "pusher:connection_established");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

#[tokio::test]
async fn subscribe_hook_denies_any_channel_or_supplies_the_presence_member() {
    let receiver = Receiver::start().await;
    let hooks = HooksConfig {
        subscribe: hook(&receiver, "/subscribe", FailureMode::Deny),
        ..Default::default()
    };
    let (app, server) = server_with(hooks).await;
    let mut c = server.connect("test-key").await;
    receiver.set_answer(json!({"allow": false, "message": "not this one"}));
    c.subscribe_raw(json!({"channel": "public-secret", "auth": ""}))
        .await;
    let err = c.expect("pusher:subscription_error").await;
    assert_eq!(err["channel"], "public-secret");
    assert_eq!(
        err["data"],
        json!({"type": "Forbidden", "error": "not this one", "status": 403})
    );

    receiver.set_answer(json!({"allow": true}));
    c.subscribe("public-ok").await;
    c.subscribe_private(&app, "private-ok").await;
    receiver.set_answer(json!({"allow": false}));
    c.subscribe_raw(json!({"channel": "private-no", "auth": c.auth(&app, "private-no", None)}))
        .await;
    let err = c.expect("pusher:subscription_error").await;
    assert_eq!(err["data"]["error"], "Refused by the app's subscribe hook");

    // The hook vouches for the member: no channel auth needed.
    receiver.set_answer(
        json!({"allow": true, "channel_data": {"user_id": "hooked", "user_info": {"role": "mod"}}}),
    );
    c.subscribe_raw(json!({"channel": "presence-lobby"})).await;
    let list = c.expect_succeeded("presence-lobby").await;
    assert_eq!(
        list["presence"],
        json!({"ids": ["hooked"], "hash": {"hooked": {"role": "mod"}}, "count": 1})
    );
    // Without member data the client's own auth is still required.
    receiver.set_answer(json!({"allow": true}));
    c.subscribe_raw(json!({"channel": "private-unsigned", "auth": "test-key:bad"}))
        .await;
    let err = c.expect("pusher:subscription_error").await;
    assert_eq!(err["data"]["type"], "AuthError");
}

#[tokio::test]
async fn subscribe_hook_timeout_follows_its_failure_mode() {
    for (failure, allowed) in [(FailureMode::Deny, false), (FailureMode::Allow, true)] {
        let (_receiver, _, server) = slow_hook("subscribe", failure).await;
        let mut c = server.connect("test-key").await;
        c.subscribe_raw(json!({"channel": "room", "auth": ""}))
            .await;
        let f = c.next_event().await;
        if allowed {
            assert_eq!(f["event"], "pusher_internal:subscription_succeeded", "{f}");
        } else {
            assert_eq!(f["event"], "pusher:subscription_error", "{f}");
            assert_eq!(f["data"]["type"], "Forbidden");
        }
    }
}

#[tokio::test]
async fn publish_hook_allows_denies_and_rewrites_client_events() {
    let receiver = Receiver::start().await;
    let hooks = HooksConfig {
        publish: hook(&receiver, "/publish", FailureMode::Deny),
        ..Default::default()
    };
    let (app, server) = server_with(hooks).await;
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    a.subscribe_private(&app, "private-chat").await;
    b.subscribe_private(&app, "private-chat").await;
    let send = |text: &str| json!({"event": "client-msg", "channel": "private-chat", "data": {"text": text}});

    receiver.set_answer(json!({"allow": true}));
    a.send(send("hello")).await;
    let got = b.wait_for("client-msg").await;
    assert_eq!(got["data"], json!({"text": "hello"}), "allowed as sent");
    let request = last_signed(&receiver);
    assert_eq!(
        request,
        json!({"hook": "publish", "socket_id": a.socket_id, "channel": "private-chat",
               "event": "client-msg", "data": {"text": "hello"}, "user_id": null})
    );

    receiver.set_answer(json!({"allow": true, "data": {"text": "h***o"}}));
    a.send(send("heck")).await;
    let got = b.wait_for("client-msg").await;
    assert_eq!(
        got["data"],
        json!({"text": "h***o"}),
        "rewritten by the hook"
    );

    receiver.set_answer(json!({"allow": false, "message": "no shouting"}));
    a.send(send("HEY")).await;
    assert_eq!(a.expect_error(4301).await, "no shouting");
    b.expect_silence().await;
}

#[tokio::test]
async fn publish_hook_timeout_follows_its_failure_mode() {
    for (failure, relayed) in [(FailureMode::Deny, false), (FailureMode::Allow, true)] {
        let (_receiver, app, server) = slow_hook("publish", failure).await;
        let mut a = server.connect("test-key").await;
        let mut b = server.connect("test-key").await;
        a.subscribe_private(&app, "private-chat").await;
        b.subscribe_private(&app, "private-chat").await;
        a.send(json!({"event": "client-x", "channel": "private-chat", "data": {}}))
            .await;
        if relayed {
            b.wait_for("client-x").await;
        } else {
            assert_eq!(
                a.expect_error(4301).await,
                "The app's publish hook is unavailable"
            );
            b.expect_silence().await;
        }
    }
}
