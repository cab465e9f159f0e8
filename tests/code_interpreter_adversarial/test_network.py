"""No way out: TCP, UDP, DNS, ICMP and AF_UNIX attempts fail, and host listeners hear nothing.

The host side is real: listeners on every local address (TCP, UDP, Unix path and abstract
sockets) and raw ICMP sockets watching for a packet that carries this session's marker.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    MARKER,
    TAG,
    Host,
    Outcome,
    interface_addresses,
    labels,
    lines_with,
    open_sandbox,
    program,
)

pytestmark = pytest.mark.anyio

# How a blocked connection to an address outside the sandbox should fail: no route,
# refused by policy. A timeout proves nothing (a firewall drop looks the same).
UNREACHABLE = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EACCES,
    errno.EPERM,
    errno.EAFNOSUPPORT,
    errno.EADDRNOTAVAIL,
}


@dataclass
class Listeners:
    tcp4: socket.socket
    tcp6: socket.socket | None
    udp4: socket.socket
    udp6: socket.socket | None
    unix_path: str
    unix_stream: socket.socket
    unix_abstract_name: str
    unix_abstract: socket.socket
    icmp: list[socket.socket] = field(default_factory=list)

    @property
    def tcp_port(self) -> int:
        return int(self.tcp4.getsockname()[1])

    @property
    def tcp6_port(self) -> int:
        return int(self.tcp6.getsockname()[1]) if self.tcp6 else 9

    @property
    def udp_port(self) -> int:
        return int(self.udp4.getsockname()[1])

    @property
    def udp6_port(self) -> int:
        return int(self.udp6.getsockname()[1]) if self.udp6 else 9

    def heard(self) -> list[str]:
        """Everything that reached the host from a sandboxed program."""
        found: list[str] = []
        for name, sock in (
            ("tcp4", self.tcp4),
            ("tcp6", self.tcp6),
            ("unix path", self.unix_stream),
            ("unix abstract", self.unix_abstract),
        ):
            while sock is not None:
                try:
                    conn, peer = sock.accept()
                except BlockingIOError:
                    break
                found.append(f"{name} connection from {peer!r}")
                conn.close()
        for name, sock in (("udp4", self.udp4), ("udp6", self.udp6)):
            while sock is not None:
                try:
                    data, peer = sock.recvfrom(4096)
                except BlockingIOError:
                    break
                found.append(f"{name} datagram from {peer!r}: {data[:60]!r}")
        for sock in self.icmp:
            while True:
                try:
                    data, peer = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                if MARKER.encode() in data:
                    found.append(f"icmp packet carrying the marker from {peer!r}")
        return found


def _nonblocking(sock: socket.socket) -> socket.socket:
    sock.setblocking(False)
    return sock


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[Listeners]:
    opened: list[socket.socket] = []

    def keep(sock: socket.socket) -> socket.socket:
        opened.append(sock)
        return _nonblocking(sock)

    tcp4 = keep(socket.create_server(("0.0.0.0", 0), backlog=64))
    tcp6 = udp6 = None
    with contextlib.suppress(OSError):
        tcp6 = keep(
            socket.create_server(
                ("::", 0), family=socket.AF_INET6, backlog=64, dualstack_ipv6=False
            )
        )
    udp4 = keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    udp4.bind(("0.0.0.0", 0))
    with contextlib.suppress(OSError):
        udp6 = keep(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        udp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        udp6.bind(("::", 0))
    unix_path = str(tmp_path / "host.sock")
    unix_stream = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    unix_stream.bind(unix_path)
    unix_stream.listen(16)
    abstract = f"pcadv-host-{TAG}"
    unix_abstract = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    unix_abstract.bind("\0" + abstract)
    unix_abstract.listen(16)
    icmp = []
    for family, proto in ((socket.AF_INET, socket.IPPROTO_ICMP), (socket.AF_INET6, 58)):
        with contextlib.suppress(OSError):  # raw sockets need root, which these tests have
            icmp.append(keep(socket.socket(family, socket.SOCK_RAW, proto)))
    try:
        yield Listeners(
            tcp4, tcp6, udp4, udp6, unix_path, unix_stream, abstract, unix_abstract, icmp
        )
    finally:
        for sock in opened:
            sock.close()


def errno_of(line: str) -> int | None:
    value = line.split("errno=", 1)[1].split(maxsplit=1)[0] if "errno=" in line else "None"
    return int(value) if value.lstrip("-").isdigit() else None


def assert_external_blocked(out: Outcome, prefix: str) -> None:
    """Every attempt whose label starts with ``prefix`` failed with no route or by policy."""
    assert not [label for label in labels(out.stdout, "ALLOWED") if label.startswith(prefix)], (
        f"reached the outside: {out.summary()}"
    )
    wrong = [
        line
        for line in lines_with(out.stdout, "BLOCKED")
        if line.removeprefix("BLOCKED ").startswith(prefix) and errno_of(line) not in UNREACHABLE
    ]
    assert not wrong, f"failed for a reason that does not prove isolation: {wrong}"


TCP = """
import socket
for host, port in TARGETS:
    def connect(host=host, port=port):
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(MARKER.encode())
            return "CONNECTED"
    attempt(f"{KIND} {host}:{port}", connect)
print("DONE", flush=True)
"""


def tcp_targets(name: str, ears: Listeners) -> tuple[str, list[tuple[str, int]]]:
    v4, v6 = interface_addresses()
    return {
        "tcp_to_host_loopback": (
            "loopback",
            [("127.0.0.1", ears.tcp_port), ("::1", ears.tcp6_port), ("localhost", ears.tcp_port)],
        ),
        "tcp_to_host_lan_addresses": (
            "external",
            [(ip, ears.tcp_port) for ip in v4] + [(ip, ears.tcp6_port) for ip in v6],
        ),
        "tcp_to_cloud_metadata_169_254_169_254": (
            "external",
            [("169.254.169.254", 80), ("169.254.169.254", 443), ("fd00:ec2::254", 80)],
        ),
        "tcp_to_the_internet": (
            "external",
            [("1.1.1.1", 443), ("8.8.8.8", 53), ("2606:4700:4700::1111", 443)],
        ),
    }[name]


TCP_CASES = [
    "tcp_to_host_loopback",
    "tcp_to_host_lan_addresses",
    "tcp_to_cloud_metadata_169_254_169_254",
    "tcp_to_the_internet",
]


@pytest.mark.parametrize("name", TCP_CASES, ids=TCP_CASES)
async def test_tcp_egress_fails_and_no_host_listener_hears_it(
    secret_runtime: Runtime, host: Host, listeners: Listeners, name: str
) -> None:
    kind, targets = tcp_targets(name, listeners)
    assert targets
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(TCP, TARGETS=targets, KIND=kind), timeout=10)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    assert "CONNECTED" not in out.stdout, f"connected out of the sandbox: {out.summary()}"
    assert len(lines_with(out.stdout, "BLOCKED")) == len(targets), out.summary()
    if kind == "external":
        assert_external_blocked(out, kind)
    heard = listeners.heard()
    assert not heard, f"the host heard the sandbox: {heard}"


async def test_http_to_the_metadata_service_with_requests_fails(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import requests
        for url in ("http://169.254.169.254/latest/meta-data/",
                    "http://metadata.google.internal/computeMetadata/v1/",
                    "http://100.100.100.200/latest/meta-data/"):
            attempt(f"external {url}", lambda url=url: requests.get(url, timeout=1).status_code)
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body), timeout=10)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
    assert len(labels(out.stdout, "BLOCKED")) == 3, out.summary()
    assert "ConnectTimeout" not in out.stdout and "ReadTimeout" not in out.stdout, (
        f"a timeout is not isolation: {out.summary()}"
    )


UDP = """
import socket
for host, port in TARGETS:
    def send(host=host, port=port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto(PAYLOAD, (host, port))
            try:
                return f"REPLIED {sock.recv(512)!r}"
            except OSError as exc:
                return f"sent, no reply ({exc})"
    kind = "loopback" if host.startswith(("127.", "::1")) else "external"
    attempt(f"{kind} {LABEL} {host}:{port}", send)
"""

DNS_QUERY = """
import random, struct
def dns_query(name):
    header = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return header + labels + b"\\x00" + struct.pack(">HH", 1, 1)
"""


async def test_udp_egress_fails_and_no_host_listener_hears_it(
    secret_runtime: Runtime, host: Host, listeners: Listeners
) -> None:
    v4, v6 = interface_addresses()
    targets = [
        ("127.0.0.1", listeners.udp_port),
        ("::1", listeners.udp6_port),
        *[(ip, listeners.udp_port) for ip in v4],
        *[(ip, listeners.udp6_port) for ip in v6],
        ("8.8.8.8", 53),
        ("169.254.169.254", 53),
    ]
    body = UDP + 'print("DONE", flush=True)\n'
    code = program(body, TARGETS=targets, LABEL="udp", PAYLOAD=MARKER.encode())
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(code, timeout=10)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    assert "REPLIED" not in out.stdout, out.summary()
    assert_external_blocked(out, "external")
    heard = listeners.heard()
    assert not heard, f"the host heard the sandbox: {heard}"


async def test_dns_resolution_and_raw_dns_queries_fail(
    secret_runtime: Runtime, host: Host, listeners: Listeners
) -> None:
    v4, _ = interface_addresses()
    resolvers = [
        ("127.0.0.1", listeners.udp_port),
        *[(ip, listeners.udp_port) for ip in v4],
        ("127.0.0.53", 53),
        ("8.8.8.8", 53),
        ("1.1.1.1", 53),
    ]
    body = (
        DNS_QUERY
        + """
import socket
for name in ("example.com", "pypi.org", "metadata.google.internal", "github.com"):
    attempt(f"resolve {name}", lambda name=name: socket.getaddrinfo(name, 443)[0][4])
PAYLOAD = dns_query(MARKER + ".example.com")
"""
        + UDP
        + """
def tcp_dns():
    with socket.create_connection(("8.8.8.8", 53), timeout=1) as conn:
        conn.sendall(struct.pack(">H", len(PAYLOAD)) + PAYLOAD)
        return f"REPLIED {conn.recv(512)!r}"
attempt("external tcp-dns 8.8.8.8:53", tcp_dns)
print("DONE", flush=True)
"""
    )
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body, TARGETS=resolvers, LABEL="dns"), timeout=10)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    resolved = [label for label in labels(out.stdout, "ALLOWED") if label.startswith("resolve")]
    assert not resolved, f"names resolved inside the sandbox: {resolved}"
    assert "REPLIED" not in out.stdout, out.summary()
    assert_external_blocked(out, "external")
    heard = listeners.heard()
    assert not heard, f"the host heard the sandbox: {heard}"


ICMP = """
import socket, struct

def checksum(data):
    if len(data) % 2:
        data += b"\\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF

def echo(kind_v6):
    payload = MARKER.encode() * 2
    kind = 128 if kind_v6 else 8
    header = struct.pack("!BBHHH", kind, 0, 0, 0x4242, 1)
    if kind_v6:
        return header + payload
    return struct.pack("!BBHHH", kind, 0, checksum(header + payload), 0x4242, 1) + payload

for host in TARGETS:
    v6 = ":" in host
    family = socket.AF_INET6 if v6 else socket.AF_INET
    proto = 58 if v6 else socket.IPPROTO_ICMP
    for kind, socktype in (("raw", socket.SOCK_RAW), ("dgram", socket.SOCK_DGRAM)):
        def ping(host=host, socktype=socktype, family=family, proto=proto, v6=v6):
            with socket.socket(family, socktype, proto) as sock:
                sock.settimeout(0.5)
                sock.sendto(echo(v6), (host, 0))
                try:
                    return f"REPLIED {len(sock.recv(2048))} bytes"
                except OSError as exc:
                    return f"sent, no reply ({exc})"
        where = "loopback" if host in ("127.0.0.1", "::1") else "external"
        attempt(f"{where} icmp-{kind} {host}", ping)
print("DONE", flush=True)
"""


async def test_icmp_echo_leaves_no_packet_on_the_host(
    secret_runtime: Runtime, host: Host, listeners: Listeners
) -> None:
    assert listeners.icmp, "the host-side raw ICMP listener could not be opened"
    v4, v6 = interface_addresses()
    targets = ["127.0.0.1", "::1", *v4, *v6, "8.8.8.8", "169.254.169.254"]
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(ICMP, TARGETS=targets), timeout=10)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    external_replies = [
        line for line in lines_with(out.stdout, "ALLOWED external") if "REPLIED" in line
    ]
    assert not external_replies, out.summary()
    assert_external_blocked(out, "external")
    heard = listeners.heard()
    assert not heard, f"the host saw the sandbox's ICMP: {heard}"


async def test_af_unix_sockets_of_the_host_are_unreachable(
    secret_runtime: Runtime, host: Host, listeners: Listeners
) -> None:
    stream = [
        listeners.unix_path,
        "\0" + listeners.unix_abstract_name,
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/run/dbus/system_bus_socket",
        "/run/systemd/private",
        "/run/systemd/notify",
        "/tmp/.X11-unix/X0",
    ]
    datagram = ["/dev/log", "/run/systemd/journal/socket", "/run/systemd/notify"]
    body = """
        import socket
        for path in STREAM:
            def connect(path=path):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(1)
                    sock.connect(path)
                    sock.sendall(MARKER.encode())
                    return "CONNECTED"
            attempt(f"stream {path!r}", connect)
        for path in DATAGRAM:
            def send(path=path):
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    sock.sendto(MARKER.encode(), path)
                    return "SENT"
            attempt(f"datagram {path!r}", send)
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body, STREAM=stream, DATAGRAM=datagram), timeout=10)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
    assert len(labels(out.stdout, "BLOCKED")) == len(stream) + len(datagram), out.summary()
    heard = listeners.heard()
    assert not heard, f"the host heard the sandbox: {heard}"
