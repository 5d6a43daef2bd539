"""Webhooks checked with the pusher SDK's own `validate_webhook` (key, signature, time_ms)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import APP_KEY, poll_until, unique


class Receiver:
    """An HTTP server on loopback that keeps every webhook request (headers and raw body)."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # Header names are case-insensitive; keep them lower-case.
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks"

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_webhooks_validate_with_the_sdk(start_server, make_client, receiver):
    srv = start_server(webhook_url=receiver.url)
    api = srv.sdk()
    ch = unique("room-")
    client = make_client("watcher", port=srv.port)
    client.subscribe_ok(ch)
    client.disconnect()

    def events():
        out = []
        for headers, body in receiver.requests:
            webhook = api.validate_webhook(headers["x-pusher-key"], headers["x-pusher-signature"], body.decode())
            assert webhook is not None, f"the SDK refused {body!r}"
            out.extend(e for e in webhook["events"] if e["channel"] == ch)
        return [e["name"] for e in out if e["name"] != "subscription_count"]

    assert poll_until(events, ["channel_occupied", "channel_vacated"]) == ["channel_occupied", "channel_vacated"]
    headers, body = receiver.requests[0]
    assert headers["x-pusher-key"] == APP_KEY
    assert api.validate_webhook(APP_KEY, "0" * 64, body.decode()) is None, "a wrong signature is refused"
