"""Output floods are cut at the limit with a marker; bytes that are not UTF-8 still arrive."""

from __future__ import annotations

import json
import resource

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import Host, call_bound, open_sandbox, program

pytestmark = pytest.mark.anyio

OUTPUT_LIMIT = 1 << 20
SLACK = 4096  # room for the truncation marker

FLOODS = {
    "one_gigabyte_on_stdout": (
        """
        import sys
        block = b"A" * (1 << 20)
        for _ in range(1024):
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
        print("FINISHED")
        """,
        "stdout",
    ),
    "one_gigabyte_on_stderr": (
        """
        import sys
        block = b"E" * (1 << 20)
        for _ in range(1024):
            sys.stderr.buffer.write(block)
        sys.stderr.flush()
        print("FINISHED")
        """,
        "stderr",
    ),
    "endless_short_lines": (
        """
        while True:
            print("x" * 99)
        """,
        "stdout",
    ),
    "two_megabytes_then_sleep_forever": (
        """
        import sys, time
        sys.stdout.write("B" * (2 << 20))
        sys.stdout.flush()
        time.sleep(3600)
        """,
        "stdout",
    ),
    "flood_from_a_forked_child": (
        """
        import os, sys
        if os.fork() == 0:
            block = b"C" * (1 << 20)
            for _ in range(1024):
                sys.stdout.buffer.write(block)
            sys.stdout.flush()
            os._exit(0)
        os.wait()
        print("FINISHED")
        """,
        "stdout",
    ),
}


@pytest.mark.parametrize("name", list(FLOODS), ids=list(FLOODS))
async def test_an_output_flood_is_truncated_with_a_marker_at_the_limit(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    body, stream = FLOODS[name]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    async with open_sandbox(secret_runtime, host, max_output_bytes=OUTPUT_LIMIT) as sandbox:
        out = await sandbox.execute(program(body), timeout=10)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    text = out.stdout if stream == "stdout" else out.stderr
    assert out.status == "output_limit", out.summary()
    assert out.truncated is True, out.summary()
    assert "FINISHED" not in out.stdout, "the flood ran to its end instead of being stopped"
    assert len(out.stdout.encode()) <= OUTPUT_LIMIT + SLACK, len(out.stdout)
    assert len(out.stderr.encode()) <= OUTPUT_LIMIT + SLACK, len(out.stderr)
    assert len(text) >= OUTPUT_LIMIT // 2, f"most of the allowed output was dropped: {len(text)}"
    assert "truncat" in (out.stdout + out.stderr).lower(), "no truncation marker"
    # The server must not have buffered the flood: its own peak memory stays modest.
    assert peak_after - peak_before < 256 << 20, (peak_before, peak_after)
    assert out.elapsed < call_bound(10), out.summary()


async def test_invalid_utf8_and_control_bytes_arrive_as_valid_text(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import sys
        sys.stdout.buffer.write(b"BEGIN \\xff\\xfe \\xc3\\x28 \\xed\\xa0\\x80 \\x00 \\x1b[2J END\\n")
        sys.stdout.buffer.write(b"half a character at the very end: \\xe2\\x82")
        sys.stderr.buffer.write(b"ERR \\xc0\\xaf \\xf8\\x88\\x80\\x80\\x80 END\\n")
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body))
    assert out.status == "ok", out.summary()
    assert out.stdout.startswith("BEGIN ") and " END\n" in out.stdout, out.summary()
    assert "half a character at the very end" in out.stdout
    assert out.stderr.startswith("ERR ") and out.stderr.rstrip().endswith("END"), out.summary()
    for text in (out.stdout, out.stderr):
        text.encode("utf-8")  # no lone surrogates smuggled through
        json.dumps(text, ensure_ascii=False)
