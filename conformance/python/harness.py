"""Test harness: the Ferrocast server process, a pysher client that records every frame,
an auth endpoint backed by the pusher SDK, and a raw HTTP API signer for error cases.

Waits always have a deadline; absence of a frame is proven with a barrier (a later frame
that must arrive after it on the same socket), never with a sleep.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import re
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pusher
import pysher
import requests
import websocket

APP_ID = "123456"
APP_KEY = "py-key"
APP_SECRET = "py-secret"

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"^Ferrocast listening on http://127\.0\.0\.1:(\d+)\s*$")
SOCKET_ID_RE = re.compile(r"^\d+\.\d+$")
STARTUP_DEADLINE = 20.0
EVENT_TIMEOUT = 5.0


def unique(prefix: str) -> str:
    """A channel/event name unique to this call (parallel tests never share names)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def server_binary() -> Path:
    env = os.environ.get("FERROCAST_BIN")
    return Path(env) if env else REPO_ROOT / "target" / "debug" / "ferrocast"


def payload(data):
    """The event data as pusher-js sees it: a JSON string is decoded, anything else as is.

    Used only where Pusher allows either encoding; where a client needs one exact encoding
    (Pysher: connection_established data is a string, pusher:error data an object) the tests
    check the type themselves.
    """
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


# --------------------------------------------------------------------------- server process


class Server:
    """One `ferrocast serve` process with its own temp config, on an ephemeral port."""

    def __init__(self, workdir: Path, *, activity_timeout: int = 120, client_events: bool = True,
                 webhook_url: str | None = None):
        self.workdir = workdir
        self.config_path = workdir / "ferrocast.toml"
        webhooks = f'webhooks = [{{ url = "{webhook_url}" }}]\n' if webhook_url else ""
        self.config_path.write_text(
            f"activity_timeout = {activity_timeout}\n"
            "[webhooks]\n"
            "batch_ms = 10\n"
            "vacated_delay_ms = 100\n"
            "[[apps]]\n"
            f'id = "{APP_ID}"\n'
            f'key = "{APP_KEY}"\n'
            f'secret = "{APP_SECRET}"\n'
            f"client_events = {'true' if client_events else 'false'}\n"
            + webhooks
        )
        self.stderr_path = workdir / "ferrocast.stderr.log"
        self.stdout_lines: list[str] = []
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.signalled = False

    def start(self) -> "Server":
        binary = server_binary()
        if not binary.exists():
            raise AssertionError(f"server binary {binary} does not exist (set FERROCAST_BIN)")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(self.config_path), "--host", "127.0.0.1",
             "--port", "0", "--metrics-port", "0", "--data-dir", str(self.workdir / "data")],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, bufsize=1,
        )
        found: "queue.Queue[int]" = queue.Queue()

        def drain():
            for line in self.proc.stdout:  # keeps the pipe drained for the process' lifetime
                self.stdout_lines.append(line.rstrip("\n"))
                m = LISTEN_RE.match(line.rstrip("\n"))
                if m and self.port is None:
                    found.put(int(m.group(1)))

        threading.Thread(target=drain, daemon=True, name="ferrocast-stdout").start()
        deadline = time.monotonic() + STARTUP_DEADLINE
        while True:
            try:
                self.port = found.get(timeout=0.1)
                return self
            except queue.Empty:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode} before listening\n{self.diagnostics()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"no 'Ferrocast listening on' line within "
                                     f"{STARTUP_DEADLINE}s\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        try:
            err = self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            err = ""
        return ("config:\n" + self.config_path.read_text() + "stdout:\n" + "\n".join(self.stdout_lines[-30:])
                + "\nstderr (tail):\n" + err)

    def crashed(self) -> int | None:
        """The exit code if the process ended on its own (not asked to by a test), else None."""
        if self.proc is None or self.signalled:
            return None
        return self.proc.poll()

    def signal(self, sig) -> None:
        """Send a signal on purpose (the exit is then not reported as a crash)."""
        self.signalled = True
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server still running {timeout}s after the signal\n{self.diagnostics()}")

    def stop(self, graceful: bool = False) -> int | None:
        """Kill the process (fixture teardown: SIGKILL, as the graceful drain takes seconds),
        or with graceful=True send SIGTERM and wait for it to exit. Returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.signalled = True
            if graceful:
                self.proc.terminate()
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            else:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_stderr", None):
            self._stderr.close()
        return None if self.proc is None else self.proc.returncode

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sdk(self, *, app_id: str = APP_ID, key: str = APP_KEY, secret: str = APP_SECRET) -> pusher.Pusher:
        return pusher.Pusher(app_id=app_id, key=key, secret=secret, ssl=False,
                             host="127.0.0.1", port=self.port, timeout=5)


# --------------------------------------------------------------------------- frame log


class FrameLog:
    """Thread-safe append-only list of decoded frames with deadline-bounded waits."""

    def __init__(self):
        self._items: list = []
        self._cond = threading.Condition()

    def append(self, item):
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list:
        with self._cond:
            return list(self._items)

    def __len__(self):
        with self._cond:
            return len(self._items)

    def wait_index(self, pred, *, timeout: float = EVENT_TIMEOUT, start: int = 0, what: str = "frame") -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self._items)):
                    if pred(self._items[i]):
                        return i
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {what}; got:\n"
                        + "\n".join(json.dumps(x) for x in self._items))
                self._cond.wait(remaining)


def is_event(event: str, channel=None):
    """Predicate: a frame with this event (and this channel; channel=None means no 'channel' key,
    channel=... (Ellipsis) means any channel)."""
    def pred(f):
        if f.get("event") != event:
            return False
        if channel is ...:
            return True
        if channel is None:
            return "channel" not in f
        return f.get("channel") == channel
    return pred


# --------------------------------------------------------------------------- pysher client


class PysherClient:
    """A real pysher.Pusher whose every received frame is recorded (after pysher handled it)."""

    def __init__(self, port: int, *, key: str = APP_KEY, auth_endpoint: str | None = None,
                 user_data: dict | None = None, name: str = "client"):
        self.name = name
        self.frames = FrameLog()      # every frame, decoded, in arrival order
        self.dispatched = FrameLog()  # channel frames as pysher routed them (event, data, channel)
        self.closed = threading.Event()
        self.close_code = None
        self.pusher = pysher.Pusher(key, custom_host="127.0.0.1", port=port, secure=False,
                                    auth_endpoint=auth_endpoint, user_data=user_data,
                                    log_level=logging.WARNING, reconnect_interval=1)
        conn = self.pusher.connection
        orig_message, orig_close, orig_handler = conn._on_message, conn._on_close, conn.event_handler

        def on_message(*args):
            text = args[-1]
            try:
                orig_message(*args)
            finally:
                try:
                    frame = json.loads(text)
                except ValueError:
                    frame = {"_unparsable": text}
                self.frames.append(frame)

        def on_close(*args):
            # websocket-client calls on_close(ws, close_status_code, close_reason)
            self.close_code = args[1] if len(args) > 1 else None
            try:
                orig_close(*args)
            finally:
                self.closed.set()

        def handler(event, data, channel):
            self.dispatched.append({"event": event, "data": data, "channel": channel})
            orig_handler(event, data, channel)

        conn._on_message = on_message  # read by Connection._connect when it builds WebSocketApp
        conn._on_close = on_close
        conn.event_handler = handler
        self._connected = threading.Event()
        conn.bind("pusher:connection_established", lambda data: self._connected.set())

    # -- lifecycle
    def connect(self, timeout: float = 10.0) -> str:
        self.pusher.connect()
        if not self._connected.wait(timeout):
            raise AssertionError(f"{self.name}: no pusher:connection_established within {timeout}s; "
                                 f"frames: {self.frames.snapshot()}")
        return self.socket_id

    @property
    def socket_id(self) -> str:
        return self.pusher.connection.socket_id

    def disconnect(self, timeout: float = 5.0):
        """Close like pysher.disconnect() (a close frame with 1000) without its stall.

        With websocket-client 1.9, WebSocketApp.close() closes the fd while pysher's reader
        thread is in epoll on it, so the thread hangs until ping_timeout (100 s). Sending the
        close frame alone lets the server answer the close handshake, which ends the reader
        thread normally. Falls back to pysher.disconnect() if the server does not answer."""
        conn = self.pusher.connection
        conn.needs_reconnect = False
        conn.disconnect_called = True
        ws = getattr(conn.socket, "sock", None)
        if ws is not None and ws.connected and conn.is_alive():
            try:
                ws.send_close()
            except Exception:  # noqa: BLE001 - already closed by the peer
                pass
            conn.join(timeout)
        if conn.is_alive():
            try:
                self.pusher.disconnect(timeout=1)
            except RuntimeError:
                pass
        self.pusher.channels = {}

    # -- subscribing
    def subscribe(self, channel: str, auth: str | None = None):
        return self.pusher.subscribe(channel, auth=auth)

    def subscribe_ok(self, channel: str, auth: str | None = None, timeout: float = EVENT_TIMEOUT) -> dict:
        """Subscribe and wait for pusher_internal:subscription_succeeded; fail fast on an error."""
        start = len(self.frames)
        ch = self.subscribe(channel, auth=auth)

        def done(f):
            return f.get("channel") == channel and f.get("event") in (
                "pusher_internal:subscription_succeeded", "pusher:subscription_error", "pusher:error")
        i = self.frames.wait_index(done, timeout=timeout, start=start,
                                   what=f"{self.name}: subscription result for {channel}")
        frame = self.frames.snapshot()[i]
        assert frame["event"] == "pusher_internal:subscription_succeeded", (
            f"{self.name}: subscribing {channel} failed: {frame}")
        return frame

    def bind(self, channel: str, event: str) -> "queue.Queue":
        """Pysher-level delivery: a queue fed by pysher's own Channel.bind callback."""
        q: "queue.Queue" = queue.Queue()
        self.pusher.channel(channel).bind(event, lambda data: q.put(data))
        return q

    # -- waiting / inspecting
    def wait(self, event: str, channel=None, *, timeout: float = EVENT_TIMEOUT, start: int = 0) -> dict:
        i = self.wait_index(event, channel, timeout=timeout, start=start)
        return self.frames.snapshot()[i]

    def wait_index(self, event: str, channel=None, *, timeout: float = EVENT_TIMEOUT, start: int = 0) -> int:
        where = "" if channel is None else f" on {channel}"
        return self.frames.wait_index(is_event(event, channel), timeout=timeout, start=start,
                                      what=f"{self.name}: {event}{where}")

    def mark(self) -> int:
        return len(self.frames)

    def received(self, event: str, channel=..., *, start: int = 0, end: int | None = None) -> list:
        items = self.frames.snapshot()[start:end]
        return [f for f in items if is_event(event, channel)(f)]

    def send(self, event: str, data, channel: str | None = None):
        self.pusher.connection.send_event(event, data, channel_name=channel)

    def ping_barrier(self) -> int:
        """Send pusher:ping and return the index of the pong: every frame the server queued for
        this socket in answer to our earlier messages comes before it."""
        start = self.mark()
        self.send("pusher:ping", {})
        return self.wait_index("pusher:pong", None, start=start)

    def wait_closed(self, timeout: float = EVENT_TIMEOUT):
        if not self.closed.wait(timeout):
            raise AssertionError(f"{self.name}: connection not closed within {timeout}s; "
                                 f"frames: {self.frames.snapshot()}")


def poll_until(fetch, expected, timeout: float = EVENT_TIMEOUT, interval: float = 0.05):
    """Call fetch() until it returns `expected` or the deadline passes; return the last value
    (the caller asserts on it, so a timeout shows what was seen instead)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def sync(api: pusher.Pusher, channel: str, *clients: PysherClient) -> list[int]:
    """Publish a marker event on `channel` and return, per client, the index of the marker.

    Frames the server sent a client before the marker are all before that index, so an
    assertion "X was not received" can be made on frames[:index]."""
    marker = unique("marker-")
    api.trigger(channel, marker, "sync")
    return [c.wait_index(marker, channel) for c in clients]


# --------------------------------------------------------------------------- auth endpoint


class AuthServer:
    """The application's auth endpoint: a threaded http.server answering pysher's form POST
    (`channel_name`, `socket_id`) with the pusher SDK's own `authenticate(...)`.

    Pysher POSTs `user_data` as a form field too, but requests mangles the dict into its keys,
    so the user for presence channels is chosen by the endpoint URL (one token per client), and
    the SDK signs `json.dumps(user_data)` - the exact string pysher sends as channel_data."""

    def __init__(self, api: pusher.Pusher):
        self.api = api
        self.wrong_api = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret="not-the-secret",
                                       ssl=False, host="127.0.0.1", port=1)
        self.tokens: dict[str, dict] = {}
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = urllib.parse.parse_qs(raw, keep_blank_values=True)
                token = self.path.rsplit("/", 1)[-1]
                owner.requests.append({"path": self.path, "form": form,
                                       "content_type": self.headers.get("Content-Type")})
                try:
                    body = owner.answer(token, form)
                    code = 200
                except Exception as e:  # noqa: BLE001 - reported to the test via the status
                    body, code = {"error": repr(e)}, 500
                out = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="auth-endpoint")
        self.thread.start()

    def endpoint(self, user_data: dict | None = None, mode: str = "ok") -> str:
        """A URL for one client. mode: ok | wrong_secret | wrong_socket."""
        token = uuid.uuid4().hex
        self.tokens[token] = {"user_data": user_data, "mode": mode}
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/auth/{token}"

    def answer(self, token: str, form: dict) -> dict:
        cfg = self.tokens[token]
        channel = form["channel_name"][0]
        socket_id = form["socket_id"][0]
        custom = cfg["user_data"] if channel.startswith("presence-") else None
        if cfg["mode"] == "ok":
            return self.api.authenticate(channel=channel, socket_id=socket_id, custom_data=custom)
        if cfg["mode"] == "wrong_secret":
            return self.wrong_api.authenticate(channel=channel, socket_id=socket_id, custom_data=custom)
        if cfg["mode"] == "wrong_socket":
            return self.api.authenticate(channel=channel, socket_id="1.1", custom_data=custom)
        raise ValueError(cfg["mode"])

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- raw HTTP API


def sign_query(method: str, path: str, params: dict, secret: str) -> str:
    """Pusher's string to sign and HMAC: lower-cased keys, sorted, unescaped `k=v`."""
    items = sorted((k.lower(), str(v)) for k, v in params.items() if k != "auth_signature")
    to_sign = "\n".join([method.upper(), path, "&".join(f"{k}={v}" for k, v in items)])
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def raw_request(base: str, method: str, path: str, *, body=None, query: dict | None = None,
                key: str = APP_KEY, secret: str = APP_SECRET, timestamp: int | None = None,
                body_md5: str | None = None, sign: bool = True) -> requests.Response:
    """A correctly signed request built without the SDK's client-side checks (for error cases).
    body may be a dict (JSON-encoded) or bytes."""
    if body is None:
        raw = b""
    elif isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
    else:
        raw = json.dumps(body).encode()
    params = dict(query or {})
    if sign:
        params["auth_key"] = key
        params["auth_timestamp"] = str(int(time.time()) if timestamp is None else timestamp)
        params["auth_version"] = "1.0"
        if raw or body_md5 is not None:
            params["body_md5"] = body_md5 if body_md5 is not None else hashlib.md5(raw).hexdigest()
        params["auth_signature"] = sign_query(method, path, params, secret)
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    headers = {"Content-Type": "application/json"} if method.upper() == "POST" else {}
    return requests.request(method, url, data=raw if method.upper() == "POST" else None,
                            headers=headers, timeout=5)


ERROR_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def assert_error_body(text: str):
    """Errors are JSON {"error": "<message>", "code": "<snake_case>"}."""
    body = json.loads(text)
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("code"), str) and ERROR_CODE_RE.match(body["code"]), body
    return body


def sdk_status_body(exc: Exception) -> tuple[int | None, str]:
    """PusherBadStatus messages are '<status>: <body>'."""
    msg = str(exc)
    m = re.match(r"^(\d{3}): (.*)$", msg, re.S)
    return (int(m.group(1)), m.group(2)) if m else (None, msg)


# --------------------------------------------------------------------------- raw websocket


class RawSocket:
    """A bare websocket-client connection for wire details pysher hides (close codes)."""

    def __init__(self, url: str, timeout: float = EVENT_TIMEOUT):
        self.ws = websocket.create_connection(url, timeout=timeout)

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def recv(self):
        """The next JSON frame as a dict, or ('close', code) for a close frame."""
        while True:
            opcode, frame = self.ws.recv_data_frame(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_TEXT:
                return json.loads(frame.data.decode())
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
                return ("close", code)
            if opcode == websocket.ABNF.OPCODE_BINARY:
                return ("binary", frame.data)
            # ping/pong control frames: keep reading

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
