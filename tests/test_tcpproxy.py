"""The fault scripts' TCP proxy: passes bytes through, freezes them, drops connections."""

import contextlib
import importlib.util
import socket
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "tcpproxy.py"
spec = importlib.util.spec_from_file_location("tcpproxy", SCRIPT)
tcpproxy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tcpproxy)


@pytest.fixture
def echo_server():
    """Yield the port of a server that echoes back whatever it receives."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def proxy(echo_server):
    with tcpproxy.TCPProxy("127.0.0.1", echo_server) as proxy:
        yield proxy


def connect(proxy):
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def test_passes_bytes_both_ways(proxy):
    """A byte string sent through the proxy comes back from the echo server."""
    with connect(proxy) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4096) == b"ping"


def test_freeze_holds_bytes_until_restored(proxy):
    """Frozen, the connection stays open but nothing arrives; restored, the held bytes do."""
    with connect(proxy) as sock:
        proxy.freeze()
        sock.sendall(b"held")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        proxy.restore()
        sock.settimeout(2)
        assert sock.recv(4096) == b"held"


def test_freeze_accepts_new_connections_without_answering(proxy):
    """A connection opened while frozen is accepted, like a hung server's, but left unanswered."""
    proxy.freeze()
    with connect(proxy) as sock:
        sock.sendall(b"hello")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4096)


def test_kill_closes_connections_and_refuses_new_ones(proxy):
    """Killed, open connections end and new ones are refused; restored, the same port answers."""
    sock = connect(proxy)
    proxy.kill()
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(4096) == b""
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.restore()
    with connect(proxy) as sock:
        sock.sendall(b"back")
        assert sock.recv(4096) == b"back"
