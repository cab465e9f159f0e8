"""One run cannot use up, for another, the kernel's quotas that every run's uid shares.

All runs have the same uid, and the kernel counts inotify instances, queued signals and
POSIX message-queue bytes per uid: whatever one run holds there is missing for the next.
A hoarder takes all it can of each and holds it; a probe running at the same time asks for
one of each. The probe must get exactly the answers it gets alone.
"""

from __future__ import annotations

import anyio
import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    Host,
    Outcome,
    lines_with,
    open_sandbox,
    program,
)

pytestmark = pytest.mark.anyio

QUOTA_CALLS = """
import ctypes, os, signal

libc = ctypes.CDLL(None, use_errno=True)


class MqAttr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long),
                ("msgsize", ctypes.c_long), ("curmsgs", ctypes.c_long),
                ("reserved", ctypes.c_long * 4)]


def inotify():
    return libc.inotify_init1(0), ctypes.get_errno()


def mqueue(name):
    attr = MqAttr(0, 10, 8192, 0)
    return libc.mq_open(name.encode(), os.O_CREAT | os.O_RDWR, 0o600, ctypes.byref(attr)), ctypes.get_errno()


def queued_signal():
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
    return libc.sigqueue(os.getpid(), int(signal.SIGRTMIN), ctypes.c_void_p(0)), ctypes.get_errno()
"""

HOARDER = (
    QUOTA_CALLS
    + """
import time
held = [0, 0, 0]
while held[0] < 100_000 and inotify()[0] >= 0:
    held[0] += 1
while held[1] < 10_000 and mqueue(f"/hoard{held[1]}")[0] >= 0:
    held[1] += 1
while held[2] < 1_000_000 and queued_signal()[0] == 0:
    held[2] += 1
print("HOLDING", *held, flush=True)
time.sleep(6)
"""
)

PROBE = (
    QUOTA_CALLS
    + """
import time
time.sleep(START_AFTER)
fd, err = inotify()
print("INOTIFY", fd >= 0, err if fd < 0 else 0)
fd, err = mqueue("/probe")
print("MQUEUE", fd >= 0, err if fd < 0 else 0)
result, err = queued_signal()
print("SIGQUEUE", result == 0, err if result else 0)
"""
)


def answers(out: Outcome) -> list[str]:
    return [
        line for word in ("INOTIFY", "MQUEUE", "SIGQUEUE") for line in lines_with(out.stdout, word)
    ]


async def test_a_run_hoarding_the_uids_shared_kernel_quotas_changes_nothing_for_a_concurrent_run(
    secret_runtime: Runtime, host: Host
) -> None:
    async with open_sandbox(secret_runtime, host, max_concurrent_runs=2) as sandbox:
        alone = await sandbox.execute(program(PROBE, START_AFTER=0), timeout=10)
        assert alone.status == "ok", alone.summary()
        assert len(answers(alone)) == 3, alone.summary()

        outcomes: dict[str, Outcome] = {}

        async def run(name: str, code: str) -> None:
            outcomes[name] = await sandbox.execute(code, timeout=15)

        async with anyio.create_task_group() as group:
            group.start_soon(run, "hoarder", program(HOARDER))
            # The probe asks once the hoarder holds all it could take.
            group.start_soon(run, "probe", program(PROBE, START_AFTER=3))
    hoarder, beside = outcomes["hoarder"], outcomes["probe"]
    assert hoarder.status == "ok" and "HOLDING" in hoarder.stdout, hoarder.summary()
    assert beside.status == "ok", beside.summary()
    assert answers(beside) == answers(alone), (
        f"beside a hoarder ({lines_with(hoarder.stdout, 'HOLDING')}) the run got "
        f"{answers(beside)}, alone {answers(alone)}"
    )
