"""One cgroup per run, for memory, process and CPU limits that hold even for root.

cgroup v1 (memory, pids and freezer hierarchies, as on these machines) and v2 (one
unified hierarchy) are both supported; ``auto`` takes v1 when its memory and pids
hierarchies are mounted and writable, else v2 when a writable group with both
controllers can be made, else none (the backend then falls back to rlimits). The cpu
controller (a CFS bandwidth quota: at most ``max_cpus`` cores per run) is used wherever it
is available beside them.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio

logger = logging.getLogger(__name__)

Mode = Literal["v1", "v2", "none"]
BASE_NAME = "promptcraft-sandbox"
# freezer is not needed: a run is killed through its pid namespace (kill its pid 1 and the
# kernel kills the rest, refusing new forks there), and then emptied process by process.
_V1_CONTROLLERS = ("memory", "pids")
_V1_OPTIONAL = ("cpu",)
CPU_PERIOD_US = 100_000
_MIN_QUOTA_US = 1_000  # the kernel's smallest CFS quota


def cpu_quota_us(cpus: float) -> int:
    """The CFS quota per ``CPU_PERIOD_US`` that allows ``cpus`` cores."""
    return max(_MIN_QUOTA_US, round(cpus * CPU_PERIOD_US))


@dataclass(frozen=True)
class CgroupStats:
    peak_memory_bytes: int | None
    oom_kills: int
    pids_limit_hits: int


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _counter(text: str, key: str) -> int:
    match = re.search(rf"^{key}\s+(\d+)$", text, re.M)
    return int(match.group(1)) if match else 0


@dataclass
class RunCgroup:
    """The cgroup (one directory per v1 controller, or one v2 directory) of one run."""

    mode: Mode
    dirs: dict[str, Path]

    def oom_events(self) -> int | None:
        """An eventfd that becomes readable at the group's first OOM (v1), or None.

        v2 needs none: ``memory.oom.group`` makes the kernel kill the whole group at once.
        """
        if self.mode != "v1":
            return None
        memory = self.dirs["memory"]
        efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        control = os.open(memory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        try:
            (memory / "cgroup.event_control").write_text(f"{efd} {control}")
        except OSError:
            os.close(efd)
            return None
        finally:
            os.close(control)  # the registration holds its own reference
        return efd

    def add(self, pid: int) -> None:
        for directory in self.dirs.values():
            (directory / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        # Every process of the run is in every hierarchy (``add`` puts its pid 1 in each,
        # and nothing inside can move): one of them answers for all.
        directory = self.dirs.get("pids") or self.dirs["unified"]
        return {int(p) for p in _read(directory / "cgroup.procs").split()}

    def stats(self) -> CgroupStats:
        if self.mode == "v1":
            memory = self.dirs["memory"]
            peak_text = _read(memory / "memory.max_usage_in_bytes").strip()
            oom = _counter(_read(memory / "memory.oom_control"), "oom_kill")
            pids_hits = _counter(_read(self.dirs["pids"] / "pids.events"), "max")
        else:
            unified = self.dirs["unified"]
            peak_text = _read(unified / "memory.peak").strip()
            oom = _counter(_read(unified / "memory.events"), "oom_kill")
            pids_hits = _counter(_read(unified / "pids.events"), "max")
        return CgroupStats(int(peak_text) if peak_text.isdigit() else None, oom, pids_hits)

    async def kill_all(self) -> None:
        """SIGKILL every process left in the group.

        A run's processes are killed first through its pid namespace (its pid 1 dies, the
        kernel kills the rest and refuses new forks there); this sweeps whatever remains.
        """
        if not self.pids():
            return
        if self.mode == "v2" and (self.dirs["unified"] / "cgroup.kill").exists():
            (self.dirs["unified"] / "cgroup.kill").write_text("1")
        with anyio.move_on_after(5):
            while pids := self.pids():
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                await anyio.sleep(0.005)

    async def remove(self) -> None:
        """Remove the directories once their processes are gone (they exit asynchronously)."""
        for directory in self.dirs.values():
            removed = False
            with anyio.move_on_after(5):
                while not removed:
                    try:
                        directory.rmdir()
                        removed = True
                    except FileNotFoundError:
                        removed = True
                    except OSError:
                        await anyio.sleep(0.005)
            if not removed:
                logger.warning(
                    "could not remove cgroup %s; it is left for the next start-up", directory
                )


@dataclass
class Cgroups:
    """Makes run cgroups under ``BASE_NAME`` in each hierarchy this mode uses."""

    mode: Mode
    bases: dict[str, Path] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def detect(
        cls, wanted: Literal["auto", "v1", "v2", "none"], v2_root: Path | None = None
    ) -> Cgroups:
        if wanted == "none":
            return cls("none")
        mounts = _cgroup_mounts()
        if wanted in ("auto", "v1"):
            bases = _v1_bases(mounts)
            if bases is not None:
                return cls("v1", bases).sweep()
            if wanted == "v1":
                raise OSError("cgroup v1 memory and pids hierarchies are not mounted writable")
        if wanted in ("auto", "v2"):
            base = _v2_base(mounts, v2_root)
            if base is not None:
                return cls("v2", {"unified": base}).sweep()
            if wanted == "v2":
                raise OSError(
                    "no writable cgroup v2 group with the memory and pids controllers; "
                    "set CODE_INTERPRETER_CGROUP_ROOT to a delegated one"
                )
        return cls("none")

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode, "bases": {k: str(v) for k, v in self.bases.items()}}

    @property
    def limits_cpu(self) -> bool:
        """Whether run groups get a CPU quota (v1: a cpu hierarchy; v2: checked per group)."""
        return self.mode == "v2" or "cpu" in self.bases

    def create(
        self, memory_bytes: int, processes: int, cpus: float | None = None
    ) -> RunCgroup | None:
        """A run group; ``cpus`` (cores, e.g. 1.0) caps its CPU bandwidth where the cpu
        controller is available."""
        if self.mode == "none":
            return None
        name = f"run-{os.getpid()}-{next(self._counter)}"
        dirs = {key: base / name for key, base in self.bases.items()}
        for directory in dirs.values():
            directory.mkdir()
        run = RunCgroup(self.mode, dirs)
        try:
            if self.mode == "v1":
                (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    memsw.write_text(str(memory_bytes))
                (dirs["pids"] / "pids.max").write_text(str(processes))
                if cpus is not None and "cpu" in dirs:
                    (dirs["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                    (dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(cpu_quota_us(cpus)))
            else:
                unified = dirs["unified"]
                (unified / "memory.max").write_text(str(memory_bytes))
                if (unified / "memory.swap.max").exists():
                    (unified / "memory.swap.max").write_text("0")
                (unified / "pids.max").write_text(str(processes))
                if (unified / "memory.oom.group").exists():
                    (unified / "memory.oom.group").write_text("1")
                if cpus is not None and (unified / "cpu.max").exists():
                    (unified / "cpu.max").write_text(f"{cpu_quota_us(cpus)} {CPU_PERIOD_US}")
        except OSError:
            for directory in dirs.values():
                directory.rmdir()
            raise
        return run

    def sweep(self) -> Cgroups:
        """Remove empty run groups left by servers that died."""
        for base in self.bases.values():
            for child in base.glob("run-*"):
                match = re.fullmatch(r"run-(\d+)-\d+", child.name)
                if match and not Path(f"/proc/{match.group(1)}").exists():
                    with contextlib.suppress(OSError):
                        child.rmdir()
        return self


def _cgroup_mounts() -> list[tuple[str, Path, set[str]]]:
    """(fstype, mount point, super options) of every cgroup mount whose root is the hierarchy's."""
    found = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2") or fields[3] != "/":
            continue
        found.append((tail[0], Path(fields[4]), set(tail[2].split(","))))
    return found


def _writable_base(parent: Path) -> Path | None:
    base = parent / BASE_NAME
    try:
        base.mkdir(exist_ok=True)
        probe = base / f"probe-{os.getpid()}"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return None
    return base


def _v1_bases(mounts: list[tuple[str, Path, set[str]]]) -> dict[str, Path] | None:
    bases: dict[str, Path] = {}
    for controller in (*_V1_CONTROLLERS, *_V1_OPTIONAL):
        for fstype, point, options in mounts:
            if fstype == "cgroup" and controller in options:
                base = _writable_base(point)
                if base is not None:
                    bases[controller] = base
                break
    if "memory" in bases and "pids" in bases:
        return bases
    return None


def _v2_base(mounts: list[tuple[str, Path, set[str]]], root: Path | None) -> Path | None:
    """A group of our own with memory and pids enabled for its children.

    With ``root`` (a delegated group) we create ours inside it. Otherwise beside our own
    cgroup, or under the hierarchy's root when we are in it: a group that has processes
    cannot hand controllers to children (the "no internal processes" rule).
    """
    point = next((p for t, p, _ in mounts if t == "cgroup2"), None)
    if point is None:
        return None
    if root is None:
        own = next(
            (
                line[3:]
                for line in _read(Path("/proc/self/cgroup")).splitlines()
                if line.startswith("0::")
            ),
            "/",
        )
        own_dir = point / own.lstrip("/")
        root = point if own_dir == point else own_dir.parent
    controllers = set(_read(root / "cgroup.controllers").split())
    if not {"memory", "pids"} <= controllers:
        return None
    # cpu is optional and enabled on its own: the kernel refuses it in some set-ups (e.g.
    # real-time threads in the hierarchy), and memory and pids must not fail with it.
    with_cpu = "cpu" in controllers and _enable(root, "cpu")
    try:
        enabled = set(_read(root / "cgroup.subtree_control").split())
        if not {"memory", "pids"} <= enabled:
            (root / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        return None
    base = _writable_base(root)
    if base is None:
        return None
    if with_cpu:
        _enable(base, "cpu")
    try:
        (base / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        return None
    return base


def _enable(group: Path, controller: str) -> bool:
    """Enable ``controller`` for the children of a v2 group; False when the kernel refuses."""
    if controller in _read(group / "cgroup.subtree_control").split():
        return True
    try:
        (group / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError:
        return False
    return True
