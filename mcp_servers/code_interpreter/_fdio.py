"""Non-blocking pipes and sockets on the event loop, for talking to sandboxes."""

from __future__ import annotations

import array
import contextlib
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

TRUNCATION_MARKER = "\n[output truncated: the run wrote more than {limit} bytes of output]\n"
_UCRED = struct.Struct("iII")


def nonblocking(fd: int) -> int:
    os.set_blocking(fd, False)
    return fd


def close_fd(fd: int) -> None:
    """Wake whoever waits on ``fd`` (they get ClosedResourceError), then close it."""
    with contextlib.suppress(Exception):  # nobody was waiting on it
        anyio.notify_closing(fd)
    with contextlib.suppress(OSError):
        os.close(fd)


class OwnedFds:
    """The descriptors one run owns on the host, each closed exactly once.

    A second close of a number would close whatever another run has opened under it since.
    """

    def __init__(self, *fds: int) -> None:
        self._open = set(fds)

    def add(self, fd: int) -> int:
        self._open.add(fd)
        return fd

    def __contains__(self, fd: int) -> bool:
        return fd in self._open

    def close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            close_fd(fd)

    def close_all(self) -> None:
        for fd in list(self._open):
            self.close(fd)


async def write_all(fd: int, data: bytes) -> bool:
    """Write everything unless the reader goes away first (then False)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await anyio.wait_writable(fd)
        except (BrokenPipeError, OSError):
            return False
    return True


@dataclass
class OutputCollector:
    """stdout and stderr of one run, kept up to ``limit`` bytes together."""

    limit: int
    on_limit: Callable[[], None]
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, stream: str, data: bytes) -> None:
        room = self.limit - len(self.stdout) - len(self.stderr)
        target = self.stdout if stream == "stdout" else self.stderr
        if len(data) > room:
            target += data[: max(room, 0)]
            if not self.truncated:
                self.truncated = True
                self.on_limit()
        else:
            target += data


async def pump(
    fd: int, sink: Callable[[bytes], None], *, stop_when: Callable[[], bool] = lambda: False
) -> None:
    """Read ``fd`` until EOF (or ``stop_when``), handing each chunk to ``sink``."""
    while not stop_when():
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        except OSError:
            return
        if not chunk:
            return
        sink(chunk)


@dataclass
class RecordReader:
    """JSON lines from the harness; anything else marks the channel as tampered with."""

    on_record: Callable[[dict[str, Any]], Awaitable[None]]
    limit: int = 32 * 2**20
    records: list[dict[str, Any]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    _buffer: bytearray = field(default_factory=bytearray)
    _size: int = 0

    async def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.limit:
            if not self.bad or self.bad[-1] != "flood":
                self.bad.append("flood")
            return
        self._buffer += chunk
        while (newline := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            await self._line(line)

    async def _line(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("t"), str):
            self.bad.append(line[:200].decode("utf-8", "replace"))
            return
        self.records.append(record)
        await self.on_record(record)

    def finish(self) -> None:
        if self._buffer:
            self.bad.append("unterminated: " + self._buffer[:200].decode("utf-8", "replace"))
            self._buffer.clear()


async def pump_records(fd: int, reader: RecordReader) -> None:
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        except OSError:
            break
        if not chunk:
            break
        await reader.feed(chunk)
    reader.finish()


def seqpacket_pair() -> tuple[socket.socket, socket.socket]:
    host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host.setblocking(False)
    host.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return host, child


async def recv_message(sock: socket.socket) -> tuple[dict[str, Any] | None, int | None]:
    """One message and the sender-declared pid the kernel vouched for (translated to ours).

    ``(None, None)`` at end of stream.
    """
    while True:
        try:
            data, ancdata, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(_UCRED.size))
            break
        except BlockingIOError:
            await anyio.wait_readable(sock)
    if not data:
        return None, None
    pid = None
    for level, kind, payload in ancdata:
        if (
            level == socket.SOL_SOCKET
            and kind == socket.SCM_CREDENTIALS
            and len(payload) >= _UCRED.size
        ):
            pid = _UCRED.unpack(payload[: _UCRED.size])[0]
    try:
        message = json.loads(data)
    except ValueError:
        message = {"event": "garbage"}
    return (message if isinstance(message, dict) else {"event": "garbage"}), pid


async def send_fds(sock: socket.socket, payload: bytes, fds: list[int]) -> None:
    while True:
        try:
            sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            return
        except BlockingIOError:
            await anyio.wait_writable(sock)


async def send_message(sock: socket.socket, payload: bytes) -> None:
    while True:
        try:
            sock.send(payload)
            return
        except BlockingIOError:
            await anyio.wait_writable(sock)
