"""Subscriptions and delivery of SDK-published events to pysher: public, private (auth
endpoint), socket_id exclusion, failed auth, unsubscribe, cache channels."""

import json

import pytest

from harness import APP_KEY, payload, poll_until, sync, unique


def sdk_data(obj):
    """What the Python SDK puts in `data` for a dict: json.dumps(obj, ensure_ascii=False)."""
    return json.dumps(obj, ensure_ascii=False)


def test_public_channel_receives_sdk_trigger(make_client, api):
    c = make_client("alice")
    ch = unique("news-")
    ok = c.subscribe_ok(ch)
    assert set(ok) <= {"event", "channel", "data"}, ok
    got = c.bind(ch, "breaking")

    assert api.trigger(ch, "breaking", {"message": "héllo", "n": 1}) == {}

    frame = c.wait("breaking", ch)
    # data is relayed verbatim: the exact string the SDK sent.
    assert frame == {"event": "breaking", "channel": ch, "data": sdk_data({"message": "héllo", "n": 1})}
    # ... and pysher hands it to the channel callback.
    assert got.get(timeout=5) == sdk_data({"message": "héllo", "n": 1})


def test_string_data_is_relayed_verbatim(make_client, api):
    c = make_client("alice")
    ch = unique("news-")
    c.subscribe_ok(ch)
    api.trigger(ch, "raw", 'not json at all {"x":')
    assert c.wait("raw", ch)["data"] == 'not json at all {"x":'


def test_trigger_to_several_channels(make_client, api):
    a, b = make_client("a"), make_client("b")
    c1, c2, c3 = unique("multi-"), unique("multi-"), unique("multi-")
    a.subscribe_ok(c1)
    a.subscribe_ok(c2)
    b.subscribe_ok(c2)
    b.subscribe_ok(c3)
    api.trigger([c1, c2, c3], "fan", {"k": "v"})
    want = sdk_data({"k": "v"})
    assert a.wait("fan", c1)["data"] == want
    assert a.wait("fan", c2)["data"] == want
    assert b.wait("fan", c2)["data"] == want
    assert b.wait("fan", c3)["data"] == want
    # one frame per (socket, channel): nothing duplicated, nothing on channels not subscribed
    ia, ib = sync(api, c2, a, b)
    assert sorted(f["channel"] for f in a.received("fan", start=0, end=ia)) == sorted([c1, c2])
    assert sorted(f["channel"] for f in b.received("fan", start=0, end=ib)) == sorted([c2, c3])


def test_socket_id_exclusion(make_client, api):
    a, b = make_client("a"), make_client("b")
    ch = unique("chat-")
    a.subscribe_ok(ch)
    b.subscribe_ok(ch)
    api.trigger(ch, "said", {"t": 1}, socket_id=a.socket_id)
    assert b.wait("said", ch)["data"] == sdk_data({"t": 1})
    ia, ib = sync(api, ch, a, b)
    assert a.received("said", ch, end=ia) == [], "the excluded socket received the event"
    assert len(b.received("said", ch, end=ib)) == 1


def test_unsubscribe_stops_delivery(make_client, api):
    a = make_client("a")
    ch, other = unique("gone-"), unique("stay-")
    a.subscribe_ok(ch)
    a.subscribe_ok(other)
    a.pusher.unsubscribe(ch)
    # unsubscribe has no reply; wait until the server reflects it
    assert poll_until(lambda: api.channel_info(ch), {"occupied": False}) == {"occupied": False}
    start = a.mark()
    api.trigger(ch, "late", "x")
    (i,) = sync(api, other, a)
    assert a.received("late", start=start, end=i) == []


def test_resubscribe_succeeds_again(make_client, api):
    a = make_client("a")
    ch = unique("again-")
    a.subscribe_ok(ch)
    a.subscribe_ok(ch)  # subscribing an already-subscribed channel just succeeds again
    api.trigger(ch, "once", "x")
    a.wait("once", ch)
    (i,) = sync(api, ch, a)
    assert len(a.received("once", ch, end=i)) == 1, "one socket must get one copy per channel"
    assert api.channel_info(ch, ["subscription_count"]) == {"occupied": True, "subscription_count": 1}


def test_private_channel_via_auth_endpoint(make_client, auth, api):
    c = make_client("alice", auth_endpoint=auth.endpoint())
    ch = unique("private-room-")
    c.subscribe_ok(ch)
    # what pysher sent to the auth endpoint
    (req,) = auth.requests
    assert req["form"]["channel_name"] == [ch]
    assert req["form"]["socket_id"] == [c.socket_id]
    got = c.bind(ch, "secret")
    api.trigger(ch, "secret", {"s": 42})
    assert c.wait("secret", ch) == {"event": "secret", "channel": ch, "data": sdk_data({"s": 42})}
    assert got.get(timeout=5) == sdk_data({"s": 42})


@pytest.mark.parametrize("mode", ["wrong_secret", "wrong_socket"])
def test_bad_auth_gives_subscription_error_and_no_events(make_client, auth, api, mode):
    c = make_client("mallory", auth_endpoint=auth.endpoint(mode=mode))
    ch = unique("private-vault-")
    start = c.mark()
    c.subscribe(ch)
    err = c.wait("pusher:subscription_error", ch, start=start)
    assert err["channel"] == ch
    assert not c.received("pusher_internal:subscription_succeeded", ch)
    # the channel is not occupied and events on it do not reach the client
    assert api.channel_info(ch) == {"occupied": False}
    api.trigger(ch, "leak", "x")
    pub = unique("public-")
    c.subscribe_ok(pub)  # the connection is still usable after a failed subscription
    (i,) = sync(api, pub, c)
    assert c.received("leak", start=start, end=i) == []
    assert not [d for d in c.dispatched.snapshot() if d["event"] == "leak"]
    assert not c.closed.is_set()


def test_subscription_error_payload(make_client, auth):
    """pusher-js hands this to channel listeners (Laravel Echo reads `status`); soketi sends
    {"type":"AuthError","error":...,"status":401}."""
    c = make_client("mallory", auth_endpoint=auth.endpoint(mode="wrong_secret"))
    ch = unique("private-vault-")
    c.subscribe(ch)
    err = c.wait("pusher:subscription_error", ch)
    data = payload(err["data"])
    assert isinstance(data, dict), err
    assert data.get("type") == "AuthError", err
    assert data.get("status") == 401, err
    assert isinstance(data.get("error"), str) and data["error"], err


def test_private_subscribe_without_auth_is_refused(make_client, api):
    c = make_client("anon")
    ch = unique("private-x-")
    c.subscribe(ch, auth="")
    c.wait("pusher:subscription_error", ch)
    assert not c.received("pusher_internal:subscription_succeeded", ch)
    assert api.channel_info(ch) == {"occupied": False}


def test_auth_signed_for_another_key_is_refused(make_client, api):
    c = make_client("anon")
    ch = unique("private-x-")
    good = api.authenticate(channel=ch, socket_id=c.socket_id)["auth"]
    forged = "other-key:" + good.split(":", 1)[1]
    c.subscribe(ch, auth=forged)
    c.wait("pusher:subscription_error", ch)
    assert not c.received("pusher_internal:subscription_succeeded", ch)


def test_private_auth_from_sdk_is_accepted_directly(make_client, api):
    c = make_client("alice")
    ch = unique("private-direct-")
    auth = api.authenticate(channel=ch, socket_id=c.socket_id)
    assert auth["auth"].startswith(APP_KEY + ":")
    c.subscribe_ok(ch, auth=auth["auth"])


def test_cache_channel_sends_last_event_after_subscribing(make_client, api):
    ch = unique("cache-x-")
    api.trigger(ch, "first", {"v": 1})
    api.trigger(ch, "second", {"v": 2})
    c = make_client("late-joiner")
    start = c.mark()
    c.subscribe(ch)
    ok = c.wait_index("pusher_internal:subscription_succeeded", ch, start=start)
    cached = c.wait_index("second", ch, start=start)
    assert ok < cached, "the cached event must follow subscription_succeeded"
    assert c.frames.snapshot()[cached] == {"event": "second", "channel": ch, "data": sdk_data({"v": 2})}
    (i,) = sync(api, ch, c)
    assert c.received("first", start=start, end=i) == [], "only the last event is cached"
    assert len(c.received("second", start=start, end=i)) == 1
    assert c.received("pusher:cache_miss", start=start, end=i) == []
    # pysher routed it to the channel like any event
    assert {"event": "second", "data": sdk_data({"v": 2}), "channel": ch} in c.dispatched.snapshot()


def test_cache_channel_without_event_sends_cache_miss(make_client, api):
    ch = unique("cache-empty-")
    c = make_client("first")
    start = c.mark()
    c.subscribe(ch)
    ok = c.wait_index("pusher_internal:subscription_succeeded", ch, start=start)
    miss = c.wait_index("pusher:cache_miss", ch, start=start)
    assert ok < miss
    assert set(c.frames.snapshot()[miss]) <= {"event", "channel", "data"}


def test_cache_channel_live_event_not_duplicated(make_client, api):
    ch, side = unique("cache-live-"), unique("side-")
    c = make_client("sub")
    c.subscribe_ok(ch)
    c.subscribe_ok(side)
    api.trigger(ch, "live", "1")
    c.wait("live", ch)
    (i,) = sync(api, side, c)  # not on ch: that would replace the cached event
    assert len(c.received("live", ch, end=i)) == 1
    # a second subscriber gets the cached copy
    d = make_client("late")
    start = d.mark()
    d.subscribe(ch)
    assert d.wait("live", ch, start=start)["data"] == "1"
