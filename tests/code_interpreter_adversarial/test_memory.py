"""Memory bombs and filling the scratch space: stopped at the limit, the host untouched.

Every bomb stops by itself at 2 GiB, eight times the limit, so that a sandbox without
a memory limit fails the test without starving the host.
"""

from __future__ import annotations

import re
import shutil

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    MEMORY_LIMIT_BYTES,
    Host,
    call_bound,
    open_sandbox,
    program,
)

pytestmark = pytest.mark.anyio

MEMORY_BOMBS = {
    "bytearray_bomb": """
        chunks = []
        print("STARTED", flush=True)
        for _ in range(2048 // 16):
            chunks.append(bytearray(b"\\x01") * (16 << 20))
        print("NO_LIMIT_HIT", flush=True)
    """,
    "numpy_bomb": """
        import numpy as np
        arrays = []
        print("STARTED", flush=True)
        for _ in range(16):
            arrays.append(np.ones(128 << 20, dtype=np.uint8))
        print("NO_LIMIT_HIT", flush=True)
    """,
    "anonymous_mmap_bomb": """
        import mmap
        maps = []
        print("STARTED", flush=True)
        for _ in range(32):
            block = mmap.mmap(-1, 64 << 20)
            for offset in range(0, len(block), mmap.PAGESIZE):
                block[offset] = 1
            maps.append(block)
        print("NO_LIMIT_HIT", flush=True)
    """,
    "shared_mmap_bomb": """
        import mmap
        maps = []
        print("STARTED", flush=True)
        for _ in range(32):
            block = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_SHARED)
            block.write(b"\\x01" * (64 << 20))
            maps.append(block)
        print("NO_LIMIT_HIT", flush=True)
    """,
    "bomb_split_across_four_children": """
        import os, time
        print("STARTED", flush=True)
        pids = []
        for i in range(4):
            pid = os.fork()
            if pid == 0:
                block = bytearray(b"\\x01") * (128 << 20)
                print(f"CHILD_HOLDS {i}", flush=True)
                time.sleep(3)
                os._exit(0)
            pids.append(pid)
        ok = 0
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            ok += os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        print(f"CHILDREN_OK {ok}", flush=True)
        if ok == 4:
            print("NO_LIMIT_HIT", flush=True)
    """,
}


@pytest.mark.parametrize("name", list(MEMORY_BOMBS), ids=list(MEMORY_BOMBS))
async def test_a_memory_bomb_ends_in_memory_limit(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    async with open_sandbox(secret_runtime, host, max_memory="256M") as sandbox:
        out = await sandbox.execute(program(MEMORY_BOMBS[name]), timeout=8)
    assert "STARTED" in out.stdout, out.summary()
    assert "NO_LIMIT_HIT" not in out.stdout, f"no memory limit: {out.summary()}"
    assert out.status == "memory_limit", out.summary()
    # The limit covers the whole tree: two 128 MiB children (plus their interpreters) cannot
    # both hold their block for the whole three seconds under 256 MiB.
    survivors = [int(n) for n in re.findall(r"CHILDREN_OK (\d+)", out.stdout)]
    assert max(survivors, default=0) <= 1, out.summary()
    if out.peak_memory_bytes:
        assert out.peak_memory_bytes <= 2 * MEMORY_LIMIT_BYTES, out.summary()
    assert out.elapsed < call_bound(8), out.summary()


FILLERS = {
    "fill_the_scratch_with_many_files": ("scratch", 8),
    "one_ever_growing_scratch_file": ("scratch", 0),
    "fill_dev_shm": ("/dev/shm", 8),
}

FILL = """
import os, tempfile

def writable_dir():
    if TARGET != "scratch":
        return TARGET
    for candidate in (os.getcwd(), tempfile.gettempdir()):
        try:
            probe = os.path.join(candidate, ".probe")
            open(probe, "w").close()
            os.unlink(probe)
            return candidate
        except OSError:
            continue
    raise SystemExit("NO_WRITABLE_SCRATCH")

directory = writable_dir()
if not os.path.isdir(directory):
    print("TARGET_ABSENT", flush=True)
    raise SystemExit(0)
print("STARTED", flush=True)
chunk = b"\\x01" * (1 << 20)
written = 0
index = 0
handle = None
try:
    while written < (2 << 30):
        if handle is None or (FILE_MIB and written % (FILE_MIB << 20) == 0):
            if handle is not None:
                handle.close()
            handle = open(os.path.join(directory, f"fill-{MARKER}-{index}"), "wb")
            index += 1
        handle.write(chunk)
        handle.flush()
        written += len(chunk)
        if written % (8 << 20) == 0:
            print(f"WROTE {written}", flush=True)
except OSError as exc:
    print(f"WRITE_FAILED {written} {type(exc).__name__} errno={exc.errno}", flush=True)
    raise
print("NO_LIMIT_HIT", flush=True)
"""


@pytest.mark.parametrize("name", list(FILLERS), ids=list(FILLERS))
async def test_filling_the_scratch_space_is_bounded_and_costs_the_host_nothing(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    target, file_mib = FILLERS[name]
    before = {path: shutil.disk_usage(path).free for path in ("/", "/tmp", "/dev/shm")}
    async with open_sandbox(secret_runtime, host, max_memory="256M") as sandbox:
        out = await sandbox.execute(program(FILL, TARGET=target, FILE_MIB=file_mib), timeout=8)
    assert "NO_WRITABLE_SCRATCH" not in out.stdout + out.stderr, out.summary()
    assert "NO_LIMIT_HIT" not in out.stdout, f"scratch space is unbounded: {out.summary()}"
    if "TARGET_ABSENT" in out.stdout:
        assert out.status == "ok", out.summary()
    else:
        assert "STARTED" in out.stdout, out.summary()
        assert out.status in {"memory_limit", "error"}, out.summary()
        if out.status == "error":
            assert re.search(
                r"No space left|File too large|Disk quota|Cannot allocate", out.stdout + out.stderr
            ), out.summary()
        written = [int(n) for n in re.findall(r"WROTE (\d+)", out.stdout)]
        assert max(written, default=0) <= 1 << 30, out.summary()
    after = {path: shutil.disk_usage(path).free for path in before}
    for path, free in before.items():
        # Other people use this machine too: only a drop of the size we wrote counts.
        assert free - after[path] < 512 << 20, f"{path} lost space to the sandbox: {out.summary()}"
    assert out.elapsed < call_bound(8), out.summary()
