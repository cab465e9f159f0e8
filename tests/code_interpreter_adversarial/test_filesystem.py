"""Writes land only in a scratch that dies with the run; links and file names cannot escape it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    MARKER,
    REPO_ROOT,
    Host,
    ToolRejectedError,
    files_named_with_tag,
    labels,
    lines_with,
    open_sandbox,
    program,
    tree_changes,
    tree_snapshot,
)

pytestmark = pytest.mark.anyio

HOST_DIRS = ["/", "/root", "/etc", "/tmp", "/var/tmp", "/dev/shm", "/usr", "/usr/local", "/opt"]


def existing(paths: list[Path]) -> list[Path]:
    return [path for path in paths if path.exists() or path.is_symlink()]


def remove_damage(paths: list[Path]) -> None:
    """Undo what an uncontained write created on the host (after recording the failure)."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


async def test_writes_outside_scratch_never_reach_the_host(
    secret_runtime: Runtime, host: Host
) -> None:
    dirs = [*HOST_DIRS, str(REPO_ROOT), str(host.tmp_dir), str(secret_runtime.settings.data_dir)]
    body = """
        import json, os, sys, sysconfig
        name = f"pcadv-write-{MARKER}"
        paths = sysconfig.get_paths()
        targets = DIRS + [os.path.dirname(os.path.realpath(sys.executable)),
                          paths["purelib"], paths["stdlib"]]
        print("TARGETS " + json.dumps(targets), flush=True)
        for directory in targets:
            def write(directory=directory):
                with open(os.path.join(directory, name), "w") as handle:
                    handle.write("written from the sandbox")
                return "WROTE"
            attempt(f"write {directory}", write)
            attempt(f"mkdir {directory}", lambda d=directory: os.mkdir(os.path.join(d, name + "-dir")))
        steps = {
            "append": lambda: open(CANARY, "a").write("x"),
            "truncate": lambda: os.truncate(CANARY, 0),
            "chmod": lambda: os.chmod(CANARY, 0o777),
            "utime": lambda: os.utime(CANARY, (0, 0)),
            "rename": lambda: os.rename(CANARY, CANARY + ".moved"),
            "unlink": lambda: os.unlink(CANARY),
        }
        for step, action in steps.items():
            attempt(f"host-file {step}", action)
        print("DONE", flush=True)
    """
    before = {path: host.fingerprint(path) for path in (host.tmp_canary, host.repo_canary)}
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(
            program(body, DIRS=dirs, CANARY=str(host.tmp_canary)), timeout=5
        )
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    targets = json.loads(lines_with(out.stdout, "TARGETS")[0].removeprefix("TARGETS "))
    name = f"pcadv-write-{MARKER}"
    created = existing([Path(d, suffix) for d in targets for suffix in (name, name + "-dir")])
    remove_damage(created)
    assert not created, f"the sandbox wrote to the host: {[str(p) for p in created]}"
    after = {path: host.fingerprint(path) if path.exists() else None for path in before}
    assert after == before, "a host file was changed from the sandbox"
    assert not existing([Path(str(host.tmp_canary) + ".moved")])


PROBE_PATHS = """
import json, os, site, sys, sysconfig
import numpy
files = {"executable": os.path.realpath(sys.executable), "os": os.__file__,
         "site": site.__file__, "numpy": numpy.__file__}
dirs = sorted({os.path.dirname(f) for f in files.values()} | set(site.getsitepackages())
              | {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]})
print("PATHS " + json.dumps({"files": files, "dirs": dirs}), flush=True)
"""


async def probe_paths(sandbox: object) -> dict[str, object]:
    out = await sandbox.execute(program(PROBE_PATHS))  # type: ignore[attr-defined]
    assert out.status == "ok", out.summary()
    paths: dict[str, object] = json.loads(lines_with(out.stdout, "PATHS")[0][6:])
    return paths


def host_fingerprints(host: Host, files: dict[str, str]) -> dict[str, object]:
    """Fingerprints of the host files at the sandbox's paths, where the host has them."""
    return {p: host.fingerprint(Path(p)) for p in files.values() if Path(p).is_file()}


async def test_the_interpreter_and_packages_cannot_be_tampered_with(
    secret_runtime: Runtime, host: Host
) -> None:
    tamper = """
        import os, stat
        module = "pcadv_" + MARKER.replace("-", "_")
        for directory in DIRS:
            for name in (module + ".pth", module + ".py"):
                def create(path=os.path.join(directory, name)):
                    with open(path, "x") as handle:
                        handle.write("# harmless marker from the adversarial suite\\n")
                    return "CREATED"
                attempt(f"create {directory}/{name}", create)
        for label, path in FILES.items():
            st = os.stat(path)
            attempt(f"open-for-write {label}", lambda p=path: open(p, "r+b").close())
            attempt(f"chmod {label}", lambda p=path, m=st.st_mode: os.chmod(p, stat.S_IMODE(m)))
            attempt(f"utime {label}", lambda p=path, s=st: os.utime(p, ns=(s.st_atime_ns, s.st_mtime_ns)))
            attempt(f"rename {label}", lambda p=path: os.rename(p, p))
        print("DONE", flush=True)
    """
    check = """
        import os
        module = "pcadv_" + MARKER.replace("-", "_")
        for directory in DIRS:
            for name in (module + ".pth", module + ".py"):
                if os.path.exists(os.path.join(directory, name)):
                    print(f"PERSISTED {directory}/{name}", flush=True)
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        paths = await probe_paths(sandbox)
        files, dirs = paths["files"], paths["dirs"]
        assert isinstance(files, dict) and isinstance(dirs, list)
        before = host_fingerprints(host, files)
        env_before = tree_snapshot(host.env_dir)
        attack = await sandbox.execute(program(tamper, DIRS=dirs, FILES=files), timeout=5)
        env_changes = tree_changes(env_before, tree_snapshot(host.env_dir))
        later = await sandbox.execute(program(check, DIRS=dirs))
    module = "pcadv_" + MARKER.replace("-", "_")
    created = [Path(d, module + ext) for d in dirs for ext in (".pth", ".py")]
    created = [p for p in created if p.exists()]
    remove_damage(created)
    assert attack.status == "ok" and "DONE" in attack.stdout, attack.summary()
    assert labels(attack.stdout, "ALLOWED") == [], attack.summary()
    assert not created, f"files created in the host's interpreter: {[str(p) for p in created]}"
    assert host_fingerprints(host, files) == before, "an interpreter file changed on the host"
    assert host.env_before, "the sandbox environment was not found on the host"
    assert not env_changes, f"the sandbox environment changed on the host: {env_changes[:20]}"
    assert later.status == "ok" and "DONE" in later.stdout, later.summary()
    assert "PERSISTED" not in later.stdout, later.summary()


async def test_nothing_written_in_one_run_is_seen_by_the_next(
    secret_runtime: Runtime, host: Host
) -> None:
    write = """
        import os, site, tempfile
        name = f"pcadv-persist-{MARKER}"
        dirs = [os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~"), "/dev/shm", "/var/tmp",
                site.getusersitepackages()]
        for directory in dirs:
            def plant(directory=directory):
                os.makedirs(directory, exist_ok=True)
                with open(os.path.join(directory, name), "w") as handle:
                    handle.write("from the previous run")
                return "PLANTED"
            attempt(f"plant {directory}", plant)
        os.environ["PCADV_FROM_PREVIOUS_RUN"] = "1"
        print("DONE", flush=True)
    """
    look = """
        import os, site, tempfile
        name = f"pcadv-persist-{MARKER}"
        dirs = [os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~"), "/dev/shm", "/var/tmp",
                site.getusersitepackages()]
        for directory in dirs:
            if os.path.exists(os.path.join(directory, name)):
                print(f"PERSISTED {directory}", flush=True)
        if "PCADV_FROM_PREVIOUS_RUN" in os.environ:
            print("PERSISTED environment", flush=True)
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        first = await sandbox.execute(program(write))
        second = await sandbox.execute(program(look))
    assert first.status == "ok" and "DONE" in first.stdout, first.summary()
    assert "ALLOWED plant" in first.stdout, f"no writable scratch at all: {first.summary()}"
    assert second.status == "ok" and "DONE" in second.stdout, second.summary()
    assert "PERSISTED" not in second.stdout, second.summary()


async def test_symlinks_to_host_paths_lead_nowhere(secret_runtime: Runtime, host: Host) -> None:
    body = """
        import os, tempfile
        os.chdir(tempfile.mkdtemp())
        links = {"repo": REPO_CANARY, "tmp": TMP_CANARY, "root": ROOT_CANARY, "ssh": SSH_CANARY,
                 "shadow": "/etc/shadow", "relative": "../" * 12 + ROOT_CANARY.lstrip("/"),
                 "proc": "/proc/1/root" + SSH_CANARY, "root-dir": "/root", "repo-dir": REPO}
        for name, target in links.items():
            attempt(f"symlink {name}", lambda n=name, t=target: os.symlink(t, n))
            attempt(f"follow {name}", lambda n=name: sniff(n))
        attempt("follow listing root-dir", lambda: sorted(os.listdir("root-dir")))
        attempt("follow listing repo-dir", lambda: sorted(os.listdir("repo-dir")))
        # Symlinks planted where a careless server might look after the run.
        for name in ("output.txt", "report.xml", "junit.xml", "result.json", "stdout", "stderr"):
            for base in (os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~")):
                try:
                    os.symlink(TMP_CANARY, os.path.join(base, name))
                except OSError:
                    pass
        print("DONE", flush=True)
    """
    before = {path: host.fingerprint(path) for path in (host.tmp_canary, host.repo_canary)}
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(
            program(
                body,
                REPO_CANARY=str(host.repo_canary),
                TMP_CANARY=str(host.tmp_canary),
                ROOT_CANARY=str(host.root_canary),
                SSH_CANARY=str(host.ssh_canary),
                REPO=str(REPO_ROOT),
            ),
            timeout=5,
        )
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    followed = [label for label in labels(out.stdout, "ALLOWED") if label.startswith("follow")]
    assert not followed, out.summary()
    after = {path: host.fingerprint(path) for path in before}
    assert after == before, "a host file behind a symlink was touched"


async def test_hardlinks_to_interpreter_and_host_files_cannot_be_written(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os, tempfile
        os.chdir(tempfile.mkdtemp())
        targets = dict(FILES)
        targets.update({"passwd": "/etc/passwd", "host-canary": TMP_CANARY})
        for name, target in targets.items():
            attempt(f"link {name}", lambda n=name, t=target: os.link(t, n))
            if os.path.exists(name):
                attempt(f"write-through {name}", lambda n=name: open(n, "r+b").close())
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        files = (await probe_paths(sandbox))["files"]
        assert isinstance(files, dict)
        before = host_fingerprints(host, files)
        env_before = tree_snapshot(host.env_dir)
        out = await sandbox.execute(
            program(body, FILES=files, TMP_CANARY=str(host.tmp_canary)), timeout=5
        )
        env_changes = tree_changes(env_before, tree_snapshot(host.env_dir))
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    written = [label for label in labels(out.stdout, "ALLOWED") if label.startswith("write")]
    assert not written, out.summary()
    assert host_fingerprints(host, files) == before
    assert not env_changes, f"the sandbox environment changed on the host: {env_changes[:20]}"


async def test_file_names_in_the_files_argument_cannot_escape_the_scratch(
    secret_runtime: Runtime, host: Host
) -> None:
    hostile = {
        f"../../../../../../../../tmp/pcadv-traversal-{MARKER}": "x",
        f"/tmp/pcadv-absolute-{MARKER}": "x",
        f"sub/../../../pcadv-climb-{MARKER}": "x",
        f"{host.tmp_dir}/pcadv-into-host-dir-{MARKER}": "x",
        f"../pcadv-parent-{MARKER}": "x",
        "data.txt": "hello from files",
    }
    code = 'print(open("data.txt").read())'
    async with open_sandbox(secret_runtime, host) as sandbox:
        try:
            out = await sandbox.execute(code, files=hostile)
            rejected = None
        except ToolRejectedError as exc:
            rejected = str(exc)
            out = await sandbox.execute(code, files={"data.txt": "hello from files"})
    assert out.status == "ok" and "hello from files" in out.stdout, out.summary()
    roots = [Path("/tmp"), REPO_ROOT, host.tmp_dir, Path.cwd(), Path("/var/tmp")]
    escaped = files_named_with_tag(roots, depth=4) + files_named_with_tag([Path("/")], depth=1)
    remove_damage([Path(p) for p in escaped])
    assert not escaped, f"files escaped the scratch (rejection: {rejected!r}): {escaped}"
