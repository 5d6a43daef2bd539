"""Client events (`client-*`) sent by one pysher client and relayed to the others."""

from harness import AuthServer, sync, unique


def two_on_private(make_client, auth, ch, **kw):
    a = make_client("alice", auth_endpoint=auth.endpoint(), **kw)
    b = make_client("bob", auth_endpoint=auth.endpoint(), **kw)
    a.subscribe_ok(ch)
    b.subscribe_ok(ch)
    return a, b


def test_client_event_reaches_other_subscriber_not_sender(make_client, auth, api):
    ch = unique("private-chat-")
    a, b = two_on_private(make_client, auth, ch)
    got = b.bind(ch, "client-typing")
    start_a = a.mark()
    a.pusher.channel(ch).trigger("client-typing", {"typing": True, "who": "alice"})
    frame = b.wait("client-typing", ch)
    # relayed verbatim; no user_id on a private channel
    assert frame == {"event": "client-typing", "channel": ch, "data": {"typing": True, "who": "alice"}}
    assert got.get(timeout=5) == {"typing": True, "who": "alice"}
    # not echoed to the sender: its pong, then an HTTP marker, come after any echo
    pong = a.ping_barrier()
    assert a.received("client-typing", start=start_a, end=pong) == []
    ia, ib = sync(api, ch, a, b)
    assert a.received("client-typing", start=start_a, end=ia) == []
    assert len(b.received("client-typing", ch, end=ib)) == 1


def test_client_event_string_data_is_relayed_verbatim(make_client, auth):
    ch = unique("private-chat-")
    a, b = two_on_private(make_client, auth, ch)
    a.pusher.channel(ch).trigger("client-note", "plain text, not JSON")
    assert b.wait("client-note", ch)["data"] == "plain text, not JSON"


def test_client_event_reaches_every_other_subscriber(make_client, auth, api):
    ch = unique("private-chat-")
    a, b = two_on_private(make_client, auth, ch)
    c = make_client("carol", auth_endpoint=auth.endpoint())
    c.subscribe_ok(ch)
    b.pusher.channel(ch).trigger("client-hi", {"from": "bob"})
    assert a.wait("client-hi", ch)["data"] == {"from": "bob"}
    assert c.wait("client-hi", ch)["data"] == {"from": "bob"}
    (ib,) = sync(api, ch, b)
    assert b.received("client-hi", end=ib) == []


def test_presence_client_event_carries_sender_user_id(make_client, auth, api):
    ch = unique("presence-chat-")
    ua, ub = {"user_id": "alice"}, {"user_id": "bob"}
    a = make_client("alice", auth_endpoint=auth.endpoint(ua), user_data=ua)
    b = make_client("bob", auth_endpoint=auth.endpoint(ub), user_data=ub)
    a.subscribe_ok(ch)
    b.subscribe_ok(ch)
    a.pusher.channel(ch).trigger("client-wave", {"n": 1})
    frame = b.wait("client-wave", ch)
    assert frame == {"event": "client-wave", "channel": ch, "data": {"n": 1}, "user_id": "alice"}
    (ia,) = sync(api, ch, a)
    assert a.received("client-wave", end=ia) == []


def assert_rejected_4301(sender, receiver, api, ch, start, sync_channel):
    err = sender.wait("pusher:error", ..., start=start)
    assert isinstance(err["data"], dict), err  # pysher needs an object
    assert err["data"]["code"] == 4301, err
    assert isinstance(err["data"]["message"], str) and err["data"]["message"]
    (ir,) = sync(api, sync_channel, receiver)
    assert not [f for f in receiver.frames.snapshot()[:ir] if f.get("event", "").startswith("client-")]
    # 43xx errors do not close the connection
    sender.ping_barrier()
    assert not sender.closed.is_set()


def test_client_events_disabled_for_app(start_server, make_client):
    srv = start_server(client_events=False)
    api = srv.sdk()
    auth2 = AuthServer(api)
    try:
        ch = unique("private-chat-")
        a = make_client("alice", port=srv.port, auth_endpoint=auth2.endpoint())
        b = make_client("bob", port=srv.port, auth_endpoint=auth2.endpoint())
        a.subscribe_ok(ch)
        b.subscribe_ok(ch)
        start = a.mark()
        a.pusher.channel(ch).trigger("client-typing", {"x": 1})
        assert_rejected_4301(a, b, api, ch, start, ch)
    finally:
        auth2.close()


def test_client_event_on_public_channel_is_rejected(make_client, api):
    ch = unique("public-chat-")
    a, b = make_client("alice"), make_client("bob")
    a.subscribe_ok(ch)
    b.subscribe_ok(ch)
    start = a.mark()
    # pysher's Channel.trigger refuses public channels itself; send the frame directly
    a.send("client-sneaky", {"x": 1}, channel=ch)
    assert_rejected_4301(a, b, api, ch, start, ch)


def test_client_event_on_unsubscribed_channel_is_rejected(make_client, auth, api):
    ch = unique("private-chat-")
    a = make_client("alice", auth_endpoint=auth.endpoint())
    b = make_client("bob", auth_endpoint=auth.endpoint())
    b.subscribe_ok(ch)
    start = a.mark()
    a.send("client-intrude", {"x": 1}, channel=ch)
    assert_rejected_4301(a, b, api, ch, start, ch)
