"""User sign-in (sent over pysher's socket: pysher has no signin API), send_to_user and
terminate_user_connections with the Python SDK."""

import json

from harness import APP_KEY, SOCKET_ID_RE, RawSocket, payload, unique


def signin(client, api, user_id, user_info=None):
    user = {"id": user_id}
    if user_info is not None:
        user["user_info"] = user_info
    signed = api.authenticate_user(client.socket_id, user)
    assert signed["auth"].startswith(APP_KEY + ":")
    start = client.mark()
    client.send("pusher:signin", {"auth": signed["auth"], "user_data": signed["user_data"]})
    ok = client.wait("pusher:signin_success", None, start=start)
    assert payload(ok["data"])["user_data"] == signed["user_data"], ok
    return signed


def server_to_user(user_id):
    return f"#server-to-user-{user_id}"


def signed_in(make_client, api, name, user_id):
    c = make_client(name)
    signin(c, api, user_id, {"name": name})
    c.subscribe_ok(server_to_user(user_id))  # what pusher-js does after signin_success
    return c


def test_signin_success_echoes_user_data(make_client, api):
    c = make_client("alice")
    signed = signin(c, api, "alice-1", {"name": "Alice"})
    assert json.loads(signed["user_data"]) == {"id": "alice-1", "user_info": {"name": "Alice"}}
    assert not c.closed.is_set()


def test_send_to_user_reaches_every_socket_of_that_user_only(make_client, api):
    u1a = signed_in(make_client, api, "u1a", "u1")
    u1b = signed_in(make_client, api, "u1b", "u1")
    u2 = signed_in(make_client, api, "u2", "u2")
    assert api.send_to_user("u1", "notice", {"text": "for u1"}) == {}
    want = {"event": "notice", "channel": server_to_user("u1"), "data": json.dumps({"text": "for u1"})}
    assert u1a.wait("notice", server_to_user("u1")) == want
    assert u1b.wait("notice", server_to_user("u1")) == want
    # u2 gets its own marker but never u1's notice; u1's sockets got exactly one copy
    api.send_to_user("u2", "marker", "m")
    i2 = u2.wait_index("marker", server_to_user("u2"))
    assert u2.received("notice", end=i2) == []
    api.send_to_user("u1", "marker", "m")
    for c in (u1a, u1b):
        i = c.wait_index("marker", server_to_user("u1"))
        assert len(c.received("notice", end=i)) == 1, c.frames.snapshot()


def test_server_to_user_channel_is_refused_to_other_users(make_client, api):
    u2 = make_client("u2")
    signin(u2, api, "u2")
    ch = server_to_user("u1")
    u2.subscribe(ch)
    u2.wait("pusher:subscription_error", ch)
    assert not u2.received("pusher_internal:subscription_succeeded", ch)


def test_server_to_user_channel_is_refused_without_signin(make_client):
    c = make_client("anon")
    ch = server_to_user("u1")
    c.subscribe(ch)
    c.wait("pusher:subscription_error", ch)
    assert not c.received("pusher_internal:subscription_succeeded", ch)


def test_bad_signin_is_refused_with_4009(server, api):
    ws = RawSocket(f"{server.ws_base}/app/{APP_KEY}?protocol=7&client=js&version=8.6.0")
    try:
        est = ws.recv()
        socket_id = json.loads(est["data"])["socket_id"]
        assert SOCKET_ID_RE.match(socket_id)
        signed = api.authenticate_user("1.1", {"id": "eve"})  # signed for another socket
        ws.send({"event": "pusher:signin", "data": signed})
        err = ws.recv()
        assert isinstance(err, dict) and err["event"] == "pusher:error", err
        assert err["data"]["code"] == 4009
        assert ws.recv() == ("close", 4009)
    finally:
        ws.close()


def test_terminate_user_connections(make_client, api):
    t1 = signed_in(make_client, api, "t1", "term-1")
    t1b = signed_in(make_client, api, "t1b", "term-1")
    keep = signed_in(make_client, api, "keep", "keeper")
    pub = unique("pub-")
    keep.subscribe_ok(pub)
    # the SDK posts to /users/{id}/terminate_connections (no /apps/{id} prefix)
    assert api.terminate_user_connections("term-1") == {}
    for c in (t1, t1b):
        err = c.wait("pusher:error", None)
        assert isinstance(err["data"], dict) and err["data"]["code"] == 4009, err
        c.wait_closed()
    # the other user's connection is untouched
    api.send_to_user("keeper", "still-here", "yes")
    assert keep.wait("still-here", server_to_user("keeper"))["data"] == "yes"
    assert not keep.closed.is_set()
    assert api.channel_info(pub, ["subscription_count"]) == {"occupied": True, "subscription_count": 1}


def test_terminate_closes_with_4009(server, api):
    ws = RawSocket(f"{server.ws_base}/app/{APP_KEY}?protocol=7&client=js&version=8.6.0")
    try:
        socket_id = json.loads(ws.recv()["data"])["socket_id"]
        signed = api.authenticate_user(socket_id, {"id": "raw-user"})
        ws.send({"event": "pusher:signin", "data": signed})
        ok = ws.recv()
        assert ok["event"] == "pusher:signin_success", ok
        assert api.terminate_user_connections("raw-user") == {}
        err = ws.recv()
        assert isinstance(err, dict) and err["event"] == "pusher:error", err
        assert err["data"]["code"] == 4009
        assert ws.recv() == ("close", 4009)
    finally:
        ws.close()


def test_terminate_unknown_user_is_ok(api):
    assert api.terminate_user_connections("nobody-here") == {}
