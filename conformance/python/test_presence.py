"""Presence channels with pysher (`user_data` → channel_data) and the SDK's authenticate()."""

import json

from harness import poll_until, sync, unique


def presence_client(make_client, auth, name, user_data, **kw):
    # pysher signs nothing itself here: it sends channel_data=json.dumps(user_data) and the
    # endpoint signs the same json.dumps(user_data) with the SDK.
    return make_client(name, auth_endpoint=auth.endpoint(user_data), user_data=user_data, **kw)


def members(frame):
    assert frame["event"] == "pusher_internal:subscription_succeeded", frame
    assert isinstance(frame["data"], str), f"presence data must be a JSON string: {frame}"
    data = json.loads(frame["data"])
    assert set(data) == {"presence"}, data
    p = data["presence"]
    assert set(p) == {"ids", "hash", "count"}, p
    assert sorted(p["ids"]) == sorted(p["hash"]), p
    assert len(p["ids"]) == len(set(p["ids"])) == p["count"], p
    return p


ALICE = {"user_id": "alice", "user_info": {"name": "Alice"}}
BOB = {"user_id": "bob", "user_info": {"name": "Bob", "tags": ["x", 1]}}


def test_presence_member_lifecycle(make_client, auth, api):
    ch = unique("presence-room-")
    alice = presence_client(make_client, auth, "alice", ALICE)
    p = members(alice.subscribe_ok(ch))
    assert p == {"ids": ["alice"], "hash": {"alice": {"name": "Alice"}}, "count": 1}
    # pysher sent channel_data = json.dumps(user_data) and the auth endpoint got the socket id
    assert auth.requests[-1]["form"]["channel_name"] == [ch]
    assert auth.requests[-1]["form"]["socket_id"] == [alice.socket_id]
    added_q = alice.bind(ch, "pusher_internal:member_added")

    bob = presence_client(make_client, auth, "bob", BOB)
    p = members(bob.subscribe_ok(ch))
    assert p["count"] == 2
    assert p["hash"] == {"alice": {"name": "Alice"}, "bob": {"name": "Bob", "tags": ["x", 1]}}

    added = alice.wait("pusher_internal:member_added", ch)
    assert isinstance(added["data"], str), added
    assert json.loads(added["data"]) == {"user_id": "bob", "user_info": {"name": "Bob", "tags": ["x", 1]}}
    assert json.loads(added_q.get(timeout=5))["user_id"] == "bob"  # pysher-level delivery
    ia, ib = sync(api, ch, alice, bob)
    assert len(alice.received("pusher_internal:member_added", ch, end=ia)) == 1
    assert bob.received("pusher_internal:member_added", ch, end=ib) == [], "member_added echoed to the joiner"

    # a second socket of the same user: one member, no member_added
    bob2 = presence_client(make_client, auth, "bob2", BOB)
    p = members(bob2.subscribe_ok(ch))
    assert p["count"] == 2 and sorted(p["ids"]) == ["alice", "bob"]
    ia, ib = sync(api, ch, alice, bob)
    assert len(alice.received("pusher_internal:member_added", ch, end=ia)) == 1, \
        "second socket of an already-present user must not emit member_added"
    assert bob.received("pusher_internal:member_added", ch, end=ib) == []

    assert api.users_info(ch)["users"] in ([{"id": "alice"}, {"id": "bob"}], [{"id": "bob"}, {"id": "alice"}])
    assert api.channel_info(ch, ["user_count", "subscription_count"]) == {
        "occupied": True, "user_count": 2, "subscription_count": 3}
    assert api.channels_info("presence-", ["user_count"]) == {"channels": {ch: {"user_count": 2}}}

    # bob's first socket leaves: bob is still present through bob2 -> no member_removed
    bob.disconnect()
    info = poll_until(lambda: api.channel_info(ch, ["user_count", "subscription_count"]),
                      {"occupied": True, "user_count": 2, "subscription_count": 2})
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}
    (ia,) = sync(api, ch, alice)
    assert alice.received("pusher_internal:member_removed", ch, end=ia) == []

    # bob's last socket leaves -> member_removed with only the user id
    start = alice.mark()
    bob2.disconnect()
    removed = alice.wait("pusher_internal:member_removed", ch, start=start)
    assert isinstance(removed["data"], str), removed
    assert json.loads(removed["data"]) == {"user_id": "bob"}
    assert api.users_info(ch) == {"users": [{"id": "alice"}]}
    assert api.channel_info(ch, ["user_count", "subscription_count"]) == {
        "occupied": True, "user_count": 1, "subscription_count": 1}
    (ia,) = sync(api, ch, alice)
    assert len(alice.received("pusher_internal:member_removed", ch, start=start, end=ia)) == 1


def test_unsubscribe_removes_member(make_client, auth, api):
    ch = unique("presence-leave-")
    alice = presence_client(make_client, auth, "alice", ALICE)
    bob = presence_client(make_client, auth, "bob", BOB)
    alice.subscribe_ok(ch)
    bob.subscribe_ok(ch)
    alice.wait("pusher_internal:member_added", ch)
    bob.pusher.unsubscribe(ch)
    removed = alice.wait("pusher_internal:member_removed", ch)
    assert json.loads(removed["data"]) == {"user_id": "bob"}
    assert api.users_info(ch) == {"users": [{"id": "alice"}]}


def test_member_without_user_info_has_null_hash_entry(make_client, auth):
    ch = unique("presence-bare-")
    carol = presence_client(make_client, auth, "carol", {"user_id": "carol"})
    p = members(carol.subscribe_ok(ch))
    assert p == {"ids": ["carol"], "hash": {"carol": None}, "count": 1}


def test_numeric_user_id_is_listed_as_string(make_client, auth, api):
    ch = unique("presence-num-")
    n = presence_client(make_client, auth, "n", {"user_id": 7, "user_info": {"k": 1}})
    p = members(n.subscribe_ok(ch))
    assert p == {"ids": ["7"], "hash": {"7": {"k": 1}}, "count": 1}
    assert api.users_info(ch) == {"users": [{"id": "7"}]}


def test_channel_data_without_user_id_is_refused(make_client, auth, api):
    ch = unique("presence-bad-")
    c = presence_client(make_client, auth, "nobody", {"user_info": {"name": "?"}})
    c.subscribe(ch)
    c.wait("pusher:subscription_error", ch)
    assert not c.received("pusher_internal:subscription_succeeded", ch)
    assert api.channel_info(ch) == {"occupied": False}


def test_presence_channel_data_must_match_signature(make_client, auth, api):
    """The endpoint signs alice; the client sends channel_data claiming to be bob."""
    ch = unique("presence-forged-")
    c = make_client("forger", auth_endpoint=auth.endpoint(ALICE), user_data=BOB)
    c.subscribe(ch)
    err = c.wait("pusher:subscription_error", ch)
    assert err["channel"] == ch
    assert not c.received("pusher_internal:subscription_succeeded", ch)
    assert api.channel_info(ch) == {"occupied": False}
