"""Fixtures: a fresh Ferrocast process per test, the pusher SDK bound to it, an auth
endpoint, and pysher clients that are disconnected at teardown."""

from __future__ import annotations

import pytest

from harness import AuthServer, PysherClient, Server


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(activity_timeout=120, client_events=True) -> Server."""
    servers: list[Server] = []

    def start(**config) -> Server:
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        srv = Server(workdir, **config)
        servers.append(srv)
        return srv.start()

    yield start
    crashed = [(s, s.crashed()) for s in servers if s.crashed() is not None]
    for s in servers:
        s.stop()
    if crashed:
        srv, code = crashed[0]
        pytest.fail(f"server exited on its own during the test (exit code {code})\n{srv.diagnostics()}")


@pytest.fixture
def server(start_server) -> Server:
    return start_server()


@pytest.fixture
def api(server):
    return server.sdk()


@pytest.fixture
def auth(api):
    srv = AuthServer(api)
    yield srv
    srv.close()


@pytest.fixture
def make_client(start_server, request):
    """Factory: make_client(name=..., auth_endpoint=..., user_data=..., connect=True, port=None).
    Without `port` the client talks to the default `server` fixture."""
    clients: list[PysherClient] = []

    def make(name: str = "client", *, connect: bool = True, port: int | None = None, **kwargs) -> PysherClient:
        if port is None:
            port = request.getfixturevalue("server").port
        c = PysherClient(port, name=name, **kwargs)
        clients.append(c)
        if connect:
            c.connect()
        return c

    yield make
    for c in clients:
        c.disconnect()
