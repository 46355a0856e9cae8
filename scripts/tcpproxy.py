"""A TCP proxy that can hang or drop what it forwards, to play a database that fails.

    proxy = TCPProxy("127.0.0.1", 5432)   # listens on a free port: proxy.port
    proxy.start()
    proxy.freeze()    # a hung server: sockets stay open, no byte goes through
    proxy.restore()   # bytes held back flow again
    proxy.kill()      # a server that is down: connections closed, new ones refused
    proxy.restore()   # listening again on the same port
    proxy.stop()

Two threads per connection copy bytes each way; a frozen proxy holds what it
has read until it is restored. Pure standard library, for the fault scripts.
"""

import contextlib
import socket
import threading

CHUNK = 65536


class TCPProxy:
    """Forward connections from a local port to ``target_host:target_port``."""

    def __init__(self, target_host, target_port, *, host="127.0.0.1", port=0):
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self.state = "stopped"
        self.accepted = 0
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self._listener = None
        self._connections = set()

    # Control ------------------------------------------------------------------

    def start(self):
        """Listen and forward; return the port."""
        self._listen()
        self.state = "passing"
        return self.port

    def freeze(self):
        """Stop forwarding bytes either way; keep every socket open and accept new ones."""
        with self._lock:
            self._flowing.clear()
            self.state = "frozen"

    def kill(self):
        """Close every connection and stop listening, so that new ones are refused."""
        with self._lock:
            self.state = "killed"
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            _close(listener)
        for sock in connections:
            _close(sock)
        self._flowing.set()  # wake pumps waiting in a freeze, so they see the closed sockets

    def restore(self):
        """Pass bytes through again (after a freeze) or listen again (after a kill)."""
        with self._lock:
            listening = self._listener is not None
        if not listening:
            self._listen()
        with self._lock:
            self.state = "passing"
            self._flowing.set()

    def stop(self):
        """Close everything for good."""
        self.kill()
        self.state = "stopped"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # Forwarding ---------------------------------------------------------------

    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # closed by kill()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._listener is not listener:  # killed meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._connections.update((client, upstream))
                self.accepted += 1
            for source, destination in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, destination), daemon=True).start()

    def _pump(self, source, destination):
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                # Frozen: hold the bytes read until restored (or killed).
                self._flowing.wait()
                with self._lock:
                    alive = source in self._connections
                if not alive:
                    break
                destination.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(destination)
            _close(source)
            _close(destination)


def _close(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
