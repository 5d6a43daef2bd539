use super::*;
use crate::outbox::{outbox, Outbox};
use std::time::Duration;

fn conn(seq: u64) -> (SessionHandle, Outbox) {
    outbox(SocketId::new(1, seq), 64)
}

fn drain(o: &mut Outbox) -> Vec<serde_json::Value> {
    let mut v = Vec::new();
    while let Ok(b) = o.rx.try_recv() {
        v.push(serde_json::from_slice(crate::frame::payload_of(&b.wire)).expect("json frame"));
    }
    v
}

fn name(n: &str) -> ChannelName {
    ChannelName::parse(n, 200).expect("valid")
}

fn member(id: &str) -> Option<Member> {
    Some(Member {
        user_id: Arc::from(id),
        user_info: None,
    })
}

#[test]
fn presence_announces_users_once_and_to_others_only() {
    let reg = Registry::default();
    let ch = name("presence-room");
    let now = Instant::now();
    let (a, mut ao) = conn(1);
    let (b1, mut b1o) = conn(2);
    let (b2, mut b2o) = conn(3);
    reg.subscribe(&ch, &a, member("a"), 100, now).expect("a");
    assert_eq!(
        drain(&mut ao)[0]["event"],
        "pusher_internal:subscription_succeeded"
    );
    reg.subscribe(&ch, &b1, member("b"), 100, now).expect("b1");
    let to_a = drain(&mut ao);
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0]["event"], "pusher_internal:member_added");
    let succeeded = drain(&mut b1o);
    assert_eq!(succeeded.len(), 1, "no member_added to the joining socket");
    let data: serde_json::Value =
        serde_json::from_str(succeeded[0]["data"].as_str().expect("string")).expect("json");
    assert_eq!(data["presence"]["count"], 2);
    reg.subscribe(&ch, &b2, member("b"), 100, now).expect("b2");
    assert!(
        drain(&mut ao).is_empty(),
        "second socket of b is not a new member"
    );
    assert!(
        drain(&mut b1o).is_empty(),
        "nor is it announced to b's first socket"
    );
    assert_eq!(
        drain(&mut b2o).len(),
        1,
        "b2 gets only its subscription_succeeded"
    );
    assert_eq!(
        reg.counts("presence-room"),
        Counts {
            subscriptions: 3,
            users: 2
        }
    );
    assert_eq!(
        reg.unsubscribe(&ch, b1.socket_id),
        Unsubscribed::Left {
            local_leave: None,
            vacated: false
        }
    );
    assert!(drain(&mut ao).is_empty(), "b still has a socket");
    assert_eq!(
        reg.unsubscribe(&ch, b2.socket_id),
        Unsubscribed::Left {
            local_leave: Some(Arc::from("b")),
            vacated: false
        }
    );
    assert_eq!(drain(&mut ao)[0]["event"], "pusher_internal:member_removed");
    assert!(drain(&mut b1o).is_empty() && drain(&mut b2o).is_empty());
}

#[test]
fn presence_member_limit_refuses_new_users_only() {
    let reg = Registry::default();
    let ch = name("presence-small");
    let now = Instant::now();
    let (a, _ao) = conn(1);
    let (a2, _a2o) = conn(2);
    let (b, _bo) = conn(3);
    reg.subscribe(&ch, &a, member("a"), 1, now).expect("a");
    reg.subscribe(&ch, &a2, member("a"), 1, now)
        .expect("same user is not a new member");
    assert_eq!(
        reg.subscribe(&ch, &b, member("b"), 1, now).err(),
        Some(Refused::PresenceFull { max: 1 })
    );
}

#[test]
fn publish_skips_the_excluded_socket_and_unsubscribed_ones() {
    let reg = Registry::default();
    let ch = name("news");
    let now = Instant::now();
    let (a, mut ao) = conn(1);
    let (b, mut bo) = conn(2);
    reg.subscribe(&ch, &a, None, 0, now).expect("a");
    reg.subscribe(&ch, &b, None, 0, now).expect("b");
    drain(&mut ao);
    drain(&mut bo);
    let frame = Bytes::from_static(b"{\"event\":\"e\"}");
    assert_eq!(reg.publish(&ch, &frame, Some(a.socket_id), None), 1);
    assert!(drain(&mut ao).is_empty());
    assert_eq!(drain(&mut bo).len(), 1);
    reg.unsubscribe(&ch, b.socket_id);
    reg.unsubscribe(&ch, a.socket_id);
    assert!(reg.list("").is_empty(), "empty channels are dropped");
}

#[test]
fn cache_channels_replay_the_last_fresh_event() {
    let reg = Registry::default();
    let ch = name("cache-prices");
    let now = Instant::now();
    let (a, mut ao) = conn(1);
    reg.subscribe(&ch, &a, None, 0, now).expect("a");
    let first = drain(&mut ao);
    assert_eq!(first[1]["event"], "pusher:cache_miss");
    let frame =
        Bytes::from_static(b"{\"event\":\"price\",\"channel\":\"cache-prices\",\"data\":\"1\"}");
    let cached = CachedEvent {
        event: "price".into(),
        data: "1".into(),
        frame: frame.clone(),
        stored_at: now,
        ttl: Duration::from_secs(60),
    };
    reg.publish(&ch, &frame, None, Some(cached));
    let (b, mut bo) = conn(2);
    reg.subscribe(&ch, &b, None, 0, now).expect("b");
    let got = drain(&mut bo);
    assert_eq!(got[0]["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(got[1]["event"], "price");
    let later = now + Duration::from_secs(61);
    assert!(reg.cached("cache-prices", later).is_none());
    reg.sweep_cache(later);
    let (c, mut co) = conn(3);
    reg.subscribe(&ch, &c, None, 0, later).expect("c");
    assert_eq!(drain(&mut co)[1]["event"], "pusher:cache_miss");
}

#[test]
fn remote_members_are_announced_once_and_forgotten_with_their_node() {
    let reg = Registry::default();
    let ch = name("presence-room");
    let now = Instant::now();
    let (a, mut ao) = conn(1);
    let sub = reg.subscribe(&ch, &a, member("a"), 100, now).expect("a");
    assert_eq!(
        sub.local_join.map(|m| m.user_id),
        Some(Arc::from("a")),
        "first local socket of a"
    );
    drain(&mut ao);
    let bob: Arc<str> = Arc::from("bob");
    reg.remote_join(&ch, &bob, 7, None);
    reg.remote_join(&ch, &bob, 8, None);
    let got = drain(&mut ao);
    assert_eq!(got.len(), 1, "bob on two nodes is one member");
    assert_eq!(got[0]["event"], "pusher_internal:member_added");
    assert_eq!(reg.member_ids("presence-room"), ["a", "bob"]);
    assert_eq!(
        reg.counts("presence-room"),
        Counts {
            subscriptions: 1,
            users: 2
        }
    );
    reg.forget_node(7);
    assert!(drain(&mut ao).is_empty(), "node 8 still has bob");
    // Node 8 resyncs without bob: he leaves.
    reg.sync_node(8, &[]);
    assert_eq!(drain(&mut ao)[0]["event"], "pusher_internal:member_removed");
    assert_eq!(reg.member_ids("presence-room"), ["a"]);
    let carol: Arc<str> = Arc::from("carol");
    reg.sync_node(9, &[(ch.clone(), carol.clone(), None)]);
    assert_eq!(drain(&mut ao)[0]["event"], "pusher_internal:member_added");
    assert_eq!(reg.local_members().len(), 1, "only a is local");
}

#[test]
fn channels_with_only_remote_members_are_not_listed_as_occupied_here() {
    let reg = Registry::default();
    let ch = name("presence-far");
    reg.remote_join(&ch, &Arc::from("x"), 7, None);
    assert!(reg.list("").is_empty());
    assert_eq!(reg.stats(), Stats::default());
    assert_eq!(
        reg.counts("presence-far"),
        Counts {
            subscriptions: 0,
            users: 1
        }
    );
    reg.remote_leave(&ch, "x", 7);
    assert_eq!(reg.counts("presence-far"), Counts::default());
}
