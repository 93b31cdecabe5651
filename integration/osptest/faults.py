"""Breaking things on purpose: a TCP relay a test can stall or take down, and what a process holds
(file descriptors, resident memory, sockets to a given port) read from /proc.

The relay sits between osp and one of its dependencies (a backend, the OPA endpoint, Redis, IAM) so a
test can make that dependency *stall* (connections accepted, nothing answered: a hung process), go
*down* (port closed: a dead process) and come back *up* on the same port — without touching the real
server, which other tests may share.
"""
from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time


class TcpRelay:
    """Relays 127.0.0.1:`port` to 127.0.0.1:`target_port`, byte for byte, until told otherwise.

    - `stall()`: new connections are still accepted (as the kernel does for a hung process) and no byte
      moves either way on any connection; `resume()` moves them again, late bytes included.
    - `down()`: the listener closes (connects are refused) and every open connection is reset.
    - `up()`: listening again on the same port.
    """

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.port = port
        self._stalled = False
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listening: threading.Event | None = None
        self._acceptor: threading.Thread | None = None
        self.accepted = 0
        self.up()

    # ------------------------------------------------------------------------------------ control

    def up(self) -> None:
        assert self._acceptor is None, "already up"
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(512)
        self.port = listener.getsockname()[1]
        running = threading.Event()
        running.set()
        self._listening = running
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener, running), daemon=True)
        self._acceptor.start()

    def down(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._acceptor is not None:
            self._listening.clear()
            self._acceptor.join(timeout=5)
            self._acceptor = None
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def stall(self) -> None:
        self._stalled = True

    def resume(self) -> None:
        self._stalled = False

    def close(self) -> None:
        self.resume()
        self.down()

    # ------------------------------------------------------------------------------------ workers

    def _accept_loop(self, listener: socket.socket, running: threading.Event) -> None:
        # The listener is closed by this thread only, so `down()` + `up()` can rebind the port at once.
        listener.settimeout(0.05)
        try:
            while running.is_set():
                try:
                    client, _ = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                self.accepted += 1
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()
        finally:
            listener.close()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            _reset(client)
            return
        pair = (client, upstream)
        with self._lock:
            self._pairs.add(pair)
        peer = {client: upstream, upstream: client}
        try:
            while True:
                with self._lock:
                    if pair not in self._pairs:
                        return
                if self._stalled:
                    time.sleep(0.02)
                    continue
                readable, _, _ = select.select([client, upstream], [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].settimeout(10)
                    peer[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                _close(sock)


def _reset(sock: socket.socket) -> None:
    """Close with RST (linger 0), like a process that died."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def closed_port() -> int:
    """A loopback port nothing listens on (connects are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------ /proc


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    directory = f"/proc/{pid}/fd"
    for name in os.listdir(directory):
        try:
            target = os.readlink(os.path.join(directory, name))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def sockets_to(pid: int, remote_port: int) -> int:
    """How many TCP sockets process `pid` holds whose peer is 127.0.0.1:`remote_port` (any state)."""
    inodes = _socket_inodes(pid)
    count = 0
    with open("/proc/net/tcp", encoding="ascii") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            remote, inode = fields[2], fields[9]
            if inode in inodes and int(remote.split(":")[1], 16) == remote_port:
                count += 1
    return count


def wait_until(predicate, timeout: float, interval: float = 0.05) -> float | None:
    """Seconds until `predicate()` held, or None if it did not within `timeout`."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)
