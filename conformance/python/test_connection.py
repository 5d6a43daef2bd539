"""WebSocket connection: handshake, keep-alive and connection-level errors, with pysher."""

import json
import signal

import pytest

import websocket

from harness import APP_KEY, SOCKET_ID_RE, RawSocket, poll_until


def test_connection_established_is_first_frame_with_string_data(make_client):
    c = make_client("alice")
    first = c.frames.snapshot()[0]
    assert first["event"] == "pusher:connection_established"
    assert "channel" not in first
    # Pysher does json.loads(data): the data must be a JSON *string*.
    assert isinstance(first["data"], str), first
    data = json.loads(first["data"])
    assert SOCKET_ID_RE.match(data["socket_id"]), data
    assert data["activity_timeout"] == 120
    assert c.socket_id == data["socket_id"]
    assert c.pusher.connection.state == "connected"


@pytest.mark.parametrize("timeout", [30, 77])
def test_activity_timeout_comes_from_config(start_server, make_client, timeout):
    srv = start_server(activity_timeout=timeout)
    c = make_client("alice", port=srv.port)
    data = json.loads(c.frames.snapshot()[0]["data"])
    assert data["activity_timeout"] == timeout


def test_socket_ids_are_unique(make_client):
    ids = {make_client(f"c{i}").socket_id for i in range(5)}
    assert len(ids) == 5
    assert all(SOCKET_ID_RE.match(i) for i in ids)


def test_pysher_ping_gets_pong(make_client):
    # Pysher sends {"event":"pusher:ping","data":""} as soon as the socket opens.
    c = make_client("alice")
    pong = c.wait("pusher:pong", None)
    assert "channel" not in pong
    assert c.pusher.connection.pong_received is True
    # And an explicit ping with object data (pusher-js style) is answered too.
    c.ping_barrier()


def test_unknown_app_key_gets_error_object_4001_and_close(make_client):
    c = make_client("stranger", key="no-such-key", connect=False)
    c.pusher.connect()
    err = c.wait("pusher:error", None)
    # Pysher does `'code' in data`: the data must be an object, not a string.
    assert isinstance(err["data"], dict), err
    assert err["data"]["code"] == 4001
    assert isinstance(err["data"]["message"], str) and err["data"]["message"]
    assert not c.received("pusher:connection_established")
    c.wait_closed()


def test_unknown_app_key_close_code_is_4001(server):
    ws = RawSocket(f"{server.ws_base}/app/no-such-key?protocol=7&client=js&version=8.6.0")
    try:
        frame = ws.recv()
        assert isinstance(frame, dict) and frame["event"] == "pusher:error", frame
        assert frame["data"]["code"] == 4001
        assert ws.recv() == ("close", 4001)
    finally:
        ws.close()


@pytest.mark.parametrize("protocol", ["5", "6", "7"])
def test_supported_protocols_connect(server, protocol):
    ws = RawSocket(f"{server.ws_base}/app/{APP_KEY}?protocol={protocol}&client=Pysher&version=1.0.7")
    try:
        frame = ws.recv()
        assert isinstance(frame, dict) and frame["event"] == "pusher:connection_established", frame
    finally:
        ws.close()


def test_unsupported_protocol_is_refused_with_4007(server):
    ws = RawSocket(f"{server.ws_base}/app/{APP_KEY}?protocol=8&client=js&version=8.6.0")
    try:
        frame = ws.recv()
        assert isinstance(frame, dict) and frame["event"] == "pusher:error", frame
        assert frame["data"]["code"] == 4007
        assert ws.recv() == ("close", 4007)
    finally:
        ws.close()


def test_disconnect_leaves_channel(make_client, api):
    c = make_client("alice")
    c.subscribe_ok("room-1")
    assert api.channel_info("room-1", ["subscription_count"]) == {"occupied": True, "subscription_count": 1}
    c.disconnect()
    # The server notices the close asynchronously: poll the API with a deadline.
    assert poll_until(lambda: api.channel_info("room-1"), {"occupied": False}) == {"occupied": False}


def test_client_close_handshake_is_answered(server):
    """RFC 6455 5.5.1: an endpoint that receives a Close frame (and has not sent one) MUST
    send a Close frame in response. pysher/websocket-client then report close code 1000."""
    ws = RawSocket(f"{server.ws_base}/app/{APP_KEY}?protocol=7&client=js&version=8.6.0")
    try:
        assert ws.recv()["event"] == "pusher:connection_established"
        ws.ws.send_close(1000, b"bye")
        try:
            reply = ws.recv()
        except websocket.WebSocketConnectionClosedException:
            reply = "TCP closed without a Close frame"
        assert reply == ("close", 1000), reply
    finally:
        ws.close()


def test_pysher_disconnect_gets_close_1000(make_client):
    c = make_client("alice")
    c.disconnect()
    c.wait_closed()
    assert c.close_code == 1000, f"close code seen by pysher: {c.close_code}"


def test_sigterm_tells_clients_to_reconnect_with_4200(start_server):
    srv = start_server()
    ws = RawSocket(f"{srv.ws_base}/app/{APP_KEY}?protocol=7&client=js&version=8.6.0")
    try:
        assert ws.recv()["event"] == "pusher:connection_established"
        srv.signal(signal.SIGTERM)
        err = ws.recv()
        assert isinstance(err, dict) and err["event"] == "pusher:error", err
        assert isinstance(err["data"], dict) and err["data"]["code"] == 4200, err
        assert ws.recv() == ("close", 4200)
    finally:
        ws.close()
    # drain_grace (2 s by default) + shutdown, then a clean exit
    assert srv.wait_exit(20) == 0, srv.diagnostics()
