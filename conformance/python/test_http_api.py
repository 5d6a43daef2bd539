"""The HTTP API through the real `pusher` SDK (3.3.x), and error cases through a signed raw
request where the SDK would refuse client-side."""

import json
import time

import pusher.errors
import pytest

from harness import (APP_ID, assert_error_body, raw_request, sdk_status_body,
                     sign_query, sync, unique)


# ----------------------------------------------------------------------------- harness self-check

def test_signer_matches_pusher_worked_example():
    params = {"auth_key": "278d425bdf160c739803", "auth_timestamp": "1353088179",
              "auth_version": "1.0", "body_md5": "ec365a775a4cd0599faeb73354201b6f"}
    assert sign_query("POST", "/apps/3/events", params, "7ad3773142a6692b25b8") == \
        "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"


# ----------------------------------------------------------------------------- publishing

def test_trigger_batch_delivers_in_order_with_exclusion(make_client, api):
    a, b = make_client("a"), make_client("b")
    c1, c2 = unique("batch-"), unique("batch-")
    for c in (a, b):
        c.subscribe_ok(c1)
        c.subscribe_ok(c2)
    result = api.trigger_batch([
        {"channel": c1, "name": "one", "data": {"i": 1}},
        {"channel": c2, "name": "two", "data": "2"},
        {"channel": c1, "name": "three", "data": {"i": 3}, "socket_id": a.socket_id},
    ])
    assert result == {}
    for c in (a, b):
        i1 = c.wait_index("one", c1)
        i2 = c.wait_index("two", c2)
        assert i1 < i2
        assert c.frames.snapshot()[i1]["data"] == json.dumps({"i": 1})
        assert c.frames.snapshot()[i2]["data"] == "2"
    assert b.wait("three", c1)["data"] == json.dumps({"i": 3})
    ia, _ = sync(api, c1, a, b)
    assert a.received("three", end=ia) == []


def test_batch_of_ten_is_accepted(make_client, api):
    c = make_client("a")
    ch = unique("ten-")
    c.subscribe_ok(ch)
    assert api.trigger_batch([{"channel": ch, "name": f"e{i}", "data": str(i)} for i in range(10)]) == {}
    idx = [c.wait_index(f"e{i}", ch) for i in range(10)]
    assert idx == sorted(idx)


def test_data_of_exactly_10240_bytes_is_accepted(make_client, api):
    c = make_client("a")
    ch = unique("big-")
    c.subscribe_ok(ch)
    data = "x" * 10240
    assert api.trigger(ch, "big", data) == {}
    assert c.wait("big", ch)["data"] == data


def test_channels_info(make_client, auth, api):
    pub1, pub2 = unique("info-"), unique("other-")
    pres = unique("presence-info-")
    a = make_client("a", auth_endpoint=auth.endpoint({"user_id": "a"}), user_data={"user_id": "a"})
    b = make_client("b", auth_endpoint=auth.endpoint({"user_id": "b"}), user_data={"user_id": "b"})
    a.subscribe_ok(pub1)
    b.subscribe_ok(pub1)
    a.subscribe_ok(pub2)
    a.subscribe_ok(pres)
    b.subscribe_ok(pres)
    assert api.channels_info() == {"channels": {pub1: {}, pub2: {}, pres: {}}}
    assert api.channels_info(prefix_filter="info-") == {"channels": {pub1: {}}}
    assert api.channels_info(prefix_filter="nothing-") == {"channels": {}}
    assert api.channels_info(prefix_filter="presence-", attributes=["user_count"]) == \
        {"channels": {pres: {"user_count": 2}}}


def test_channels_info_user_count_needs_presence_prefix(api):
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        api.channels_info(attributes=["user_count"])
    assert_error_body(str(e.value))


def test_channel_info(make_client, api):
    ch = unique("ci-")
    assert api.channel_info(ch) == {"occupied": False}
    a, b = make_client("a"), make_client("b")
    a.subscribe_ok(ch)
    b.subscribe_ok(ch)
    assert api.channel_info(ch) == {"occupied": True}
    assert api.channel_info(ch, ["subscription_count"]) == {"occupied": True, "subscription_count": 2}


def test_channel_info_user_count_on_non_presence_is_400(api):
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        api.channel_info(unique("plain-"), ["user_count"])
    assert_error_body(str(e.value))


def test_users_info_on_non_presence_is_400(api):
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        api.users_info(unique("plain-"))
    assert_error_body(str(e.value))


def test_users_info_empty_presence_channel(api):
    assert api.users_info(unique("presence-empty-")) == {"users": []}


# ----------------------------------------------------------------------------- authentication errors

def test_wrong_secret_is_401(server, make_client):
    c = make_client("a")
    ch = unique("sec-")
    c.subscribe_ok(ch)
    bad = server.sdk(secret="wrong-secret")
    with pytest.raises(pusher.errors.PusherBadAuth) as e:
        bad.trigger(ch, "nope", "x")
    assert_error_body(str(e.value))
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.channels_info()
    (i,) = sync(server.sdk(), ch, c)
    assert c.received("nope", end=i) == []


def test_unknown_key_is_401(server):
    with pytest.raises(pusher.errors.PusherBadAuth) as e:
        server.sdk(key="not-a-key").channels_info()
    assert_error_body(str(e.value))


def test_unknown_app_id_is_404(server):
    with pytest.raises(pusher.errors.PusherBadStatus) as e:
        server.sdk(app_id="999999").channels_info()
    status, body = sdk_status_body(e.value)
    assert status == 404, str(e.value)
    assert_error_body(body)


def test_expired_timestamp_is_401(server):
    r = raw_request(server.http_base, "GET", f"/apps/{APP_ID}/channels", timestamp=int(time.time()) - 601)
    assert r.status_code == 401, r.text
    assert_error_body(r.text)


def test_timestamp_within_window_is_accepted(server):
    r = raw_request(server.http_base, "GET", f"/apps/{APP_ID}/channels", timestamp=int(time.time()) - 500)
    assert r.status_code == 200, r.text
    assert r.json() == {"channels": {}}


def test_wrong_body_md5_is_401(server):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "e", "channels": ["c"], "data": "x"}, body_md5="0" * 32)
    assert r.status_code == 401, r.text
    assert_error_body(r.text)


def test_unsigned_request_is_401(server):
    r = raw_request(server.http_base, "GET", f"/apps/{APP_ID}/channels", sign=False)
    assert r.status_code == 401, r.text
    assert_error_body(r.text)


def test_raw_signed_request_without_sdk_is_accepted(server):
    """The raw signer (used for the error cases below) produces requests the server accepts."""
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "e", "channels": [unique("raw-")], "data": "x"})
    assert r.status_code == 200, r.text
    assert r.json() == {}


# ----------------------------------------------------------------------------- limits

def test_data_over_10kb_is_413(make_client, api):
    # the SDK only refuses > ~30 KB for trigger, so 10241 bytes reaches the server
    c = make_client("a")
    ch = unique("big-")
    c.subscribe_ok(ch)
    with pytest.raises(pusher.errors.PusherBadStatus) as e:
        api.trigger(ch, "too-big", "x" * 10241)
    status, body = sdk_status_body(e.value)
    assert status == 413, str(e.value)
    assert_error_body(body)
    (i,) = sync(api, ch, c)
    assert c.received("too-big", end=i) == []


def test_data_size_counts_utf8_bytes(api):
    ch = unique("utf8-")
    assert api.trigger(ch, "fits", "é" * 5120) == {}  # 10240 bytes
    with pytest.raises(pusher.errors.PusherBadStatus) as e:
        api.trigger(ch, "too-big", "é" * 5121)  # 10242 bytes, 5121 characters
    assert sdk_status_body(e.value)[0] == 413, str(e.value)


def test_batch_event_over_10kb_is_413(api):
    # the SDK refuses this client-side unless already_encoded=True
    with pytest.raises(ValueError):
        api.trigger_batch([{"channel": unique("b-"), "name": "big", "data": "x" * 10241}])
    with pytest.raises(pusher.errors.PusherBadStatus) as e:
        api.trigger_batch([{"channel": unique("b-"), "name": "big", "data": "x" * 10241}],
                          already_encoded=True)
    status, body = sdk_status_body(e.value)
    assert status == 413, str(e.value)
    assert_error_body(body)


def test_batch_of_eleven_is_400(make_client, api):
    c = make_client("a")
    ch = unique("eleven-")
    c.subscribe_ok(ch)
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        api.trigger_batch([{"channel": ch, "name": f"e{i}", "data": str(i)} for i in range(11)])
    assert_error_body(str(e.value))
    (i,) = sync(api, ch, c)
    assert [f for f in c.frames.snapshot()[:i] if f.get("event", "").startswith("e")
            and f["event"][1:].isdigit()] == [], "a rejected batch must publish nothing"


def test_bad_channel_name_sdk_refuses_client_side(api):
    with pytest.raises(ValueError):
        api.trigger("bad channel!", "e", "x")


@pytest.mark.parametrize("channel", ["bad channel", "ümlaut", "a" * 201, "#reserved", ""])
def test_bad_channel_name_is_400(server, channel):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "e", "channels": [channel], "data": "x"})
    assert r.status_code == 400, r.text
    assert_error_body(r.text)


def test_bad_channel_name_in_batch_is_400(api):
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        api.trigger_batch([{"channel": "bad channel", "name": "e", "data": "x"}], already_encoded=True)
    assert_error_body(str(e.value))


def test_more_than_100_channels_is_400(server):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "e", "channels": [f"c{i}" for i in range(101)], "data": "x"})
    assert r.status_code == 400, r.text
    assert_error_body(r.text)


def test_100_channels_is_accepted(server):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "e", "channels": [f"c{i}" for i in range(100)], "data": "x"})
    assert r.status_code == 200, r.text


def test_event_name_over_200_is_400(server):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "e" * 201, "channels": ["c"], "data": "x"})
    assert r.status_code == 400, r.text
    assert_error_body(r.text)


@pytest.mark.parametrize("body", [
    {"channels": ["c"], "data": "x"},            # no name
    {"name": "e", "channels": ["c"]},            # no data
    {"name": "e", "data": "x"},                  # no channel(s)
    b"{not json",
])
def test_malformed_event_is_400(server, body):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events", body=body)
    assert r.status_code == 400, r.text
    assert_error_body(r.text)


def test_single_channel_field_is_accepted(make_client, server):
    c = make_client("a")
    ch = unique("single-")
    c.subscribe_ok(ch)
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/events",
                    body={"name": "solo", "channel": ch, "data": "x"})
    assert r.status_code == 200, r.text
    assert c.wait("solo", ch)["data"] == "x"


def test_terminate_path_with_apps_prefix(server):
    r = raw_request(server.http_base, "POST", f"/apps/{APP_ID}/users/someone/terminate_connections", body={})
    assert r.status_code == 200, r.text
    assert r.json() == {}
