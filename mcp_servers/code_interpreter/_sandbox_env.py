"""The read-only environment the sandbox mounts: one interpreter and the allowed packages.

Built once at setup (``scripts/setup_sandbox_env.sh``), never at run time. Layout of
``<sandbox_env_dir>`` (default ``<repo>/.sandbox-env``)::

    manifest.json              what was built: Python version, requested and installed packages
    root/usr/local/bin/python3.11           a copy of the interpreter
    root/usr/local/lib/python3.11/          its standard library (no tests, no IDLE, no tkinter)
    root/usr/local/lib/python3.11/site-packages/   the allowed packages and their dependencies
    root/usr/lib/<multiarch>/               the shared libraries all of the above link to
    root/usr/lib64/ld-linux-*.so.*          the dynamic loader
    root/etc/{passwd,group,hosts}           three tiny files, no secrets

The sandbox mounts ``root/usr`` on ``/usr`` and ``root/etc`` on ``/etc``, read-only, and
nothing else from the host: not ``/``, not the interpreter's own prefix (whose
site-packages hold the host's packages), not the project. Everything here is
readable by everyone, because the sandbox runs as an unprivileged user.
"""

# A set-up CLI: it runs the interpreter, pip, ldd and bwrap it chooses itself, and talks
# to the person running it on stderr.
# ruff: noqa: S603, S607, T201

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcp_servers.code_interpreter.errors import SandboxEnvironmentError

FORMAT_VERSION = 1
_REPO_ROOT = Path(__file__).resolve().parents[2]
_SETUP_HINT = "run `bash scripts/setup_sandbox_env.sh` (it reads CODE_INTERPRETER_ALLOWED_PACKAGES)"
# Parts of the standard library no sandboxed program needs; leaving them out keeps the env small.
_STDLIB_SKIP = {
    "site-packages",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "__phello__",
}
# Loaded with dlopen, so ldd never names it; glibc needs it to unwind a thread that exits.
_DLOPENED = ("libgcc_s.so.1",)


def default_env_dir() -> Path:
    """``<repo>/.sandbox-env`` in a source checkout, else ``$PROMPTCRAFT_DATA_DIR/sandbox-env``.

    The checkout is preferred because the data dir's default (``~/.local/share``) is often
    under a home directory the unprivileged sandbox user cannot traverse.
    """
    if (_REPO_ROOT / "pyproject.toml").is_file():
        return _REPO_ROOT / ".sandbox-env"
    data = os.environ.get("PROMPTCRAFT_DATA_DIR") or str(
        Path.home() / ".local" / "share" / "promptcraft"
    )
    return Path(data).expanduser() / "sandbox-env"


def normalize(name: str) -> str:
    """PEP 503 name normalisation (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


@dataclass(frozen=True)
class InstalledPackage:
    name: str
    version: str
    import_names: tuple[str, ...]
    requested: bool


@dataclass(frozen=True)
class SandboxEnv:
    """A built environment, as its manifest describes it."""

    directory: Path
    python_version: str
    requested: tuple[str, ...]
    packages: tuple[InstalledPackage, ...]

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def usr(self) -> Path:
        return self.root / "usr"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def site_packages(self) -> Path:
        return self.usr / "local" / "lib" / _python_dir(self.python_version) / "site-packages"

    @property
    def host_python(self) -> Path:
        """The env's interpreter as seen from the host (for the unsandboxed backend)."""
        return self.usr / "local" / "bin" / _python_dir(self.python_version)

    @property
    def sandbox_python(self) -> str:
        """The interpreter's path inside the sandbox."""
        return f"/usr/local/bin/{_python_dir(self.python_version)}"

    @property
    def import_names(self) -> tuple[str, ...]:
        return tuple(sorted({n for p in self.packages for n in p.import_names}))


def _python_dir(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"python{major}.{minor}"


def load_env(directory: Path, allowed_packages: Sequence[str]) -> SandboxEnv:
    """Read the manifest and check it matches the settings; raise with the fix otherwise."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise SandboxEnvironmentError(
            f"the sandbox package environment is missing at {directory}: {_SETUP_HINT}, "
            "or point CODE_INTERPRETER_SANDBOX_ENV_DIR at an environment built by it"
        )
    try:
        raw = json.loads(manifest_path.read_text())
        env = SandboxEnv(
            directory=directory,
            python_version=str(raw["python"]),
            requested=tuple(raw["requested"]),
            packages=tuple(
                InstalledPackage(
                    name=p["name"],
                    version=p["version"],
                    import_names=tuple(p["import_names"]),
                    requested=bool(p["requested"]),
                )
                for p in raw["installed"]
            ),
        )
        fmt = raw["format"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxEnvironmentError(
            f"the sandbox environment manifest {manifest_path} is unreadable ({exc}): {_SETUP_HINT}"
        ) from exc
    if fmt != FORMAT_VERSION:
        raise SandboxEnvironmentError(
            f"the sandbox environment at {directory} has format {fmt}, this server needs "
            f"{FORMAT_VERSION}: {_SETUP_HINT}"
        )
    wanted = sorted(normalize(p) for p in allowed_packages)
    if sorted(env.requested) != wanted:
        raise SandboxEnvironmentError(
            f"CODE_INTERPRETER_ALLOWED_PACKAGES is {','.join(wanted)} but the sandbox environment "
            f"at {directory} was built with {','.join(env.requested)}: {_SETUP_HINT}"
        )
    if not env.host_python.is_file():
        raise SandboxEnvironmentError(
            f"the sandbox environment at {directory} has no interpreter: {_SETUP_HINT}"
        )
    return env


# --------------------------------------------------------------------------- building


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _copy_interpreter(base: Path, version: str, prefix: Path) -> None:
    pydir = _python_dir(version)
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(base / "bin" / pydir, prefix / "bin" / pydir)
    for alias in ("python3", "python"):
        (prefix / "bin" / alias).symlink_to(pydir)

    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) == base / "lib" / pydir:
            return {n for n in names if n in _STDLIB_SKIP or n.startswith("config-")}
        if Path(directory).name == "lib-dynload":
            return {n for n in names if n.startswith("_tkinter")}
        return {n for n in names if n in ("tests", "idle_test")}

    shutil.copytree(base / "lib" / pydir, prefix / "lib" / pydir, symlinks=True, ignore=ignore)


def _install_packages(base_python: Path, packages: Sequence[str], site: Path) -> None:
    site.mkdir(parents=True)
    pip = [str(base_python), "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True, check=False).returncode == 0:
        command = [
            *pip,
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",
            "--target",
            str(site),
            *packages,
        ]
    else:  # no pip next to the interpreter: the project's own uv can install for it
        uv = shutil.which("uv") or str(_REPO_ROOT / ".tools" / "uv" / "bin" / "uv")
        command = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(base_python),
            "--target",
            str(site),
            *packages,
        ]
    _say(f"installing {', '.join(packages)} from the package index")
    proc = subprocess.run(command, check=False)
    if proc.returncode != 0:
        raise SandboxEnvironmentError(
            f"installing {', '.join(packages)} failed (exit {proc.returncode}); check the "
            "package names in CODE_INTERPRETER_ALLOWED_PACKAGES and the network"
        )
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts pointing at the host Python


def _elf_files(tree: Path) -> Iterable[Path]:
    for path in tree.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    yield path


_LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-f]+\)")
_LOADER_LINE = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)")


def _library_closure(elfs: Iterable[Path], inside: Path) -> tuple[dict[str, Path], Path | None]:
    """Every shared library the ELF files load from outside ``inside``: soname -> host path."""
    libs: dict[str, Path] = {}
    loader: Path | None = None
    for elf in elfs:
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if "not found" in line:
                raise SandboxEnvironmentError(
                    f"{elf} needs a library the host lacks: {line.strip()}"
                )
            if match := _LDD_LINE.match(line):
                soname, target = match.group(1), Path(match.group(2))
                if not target.resolve().is_relative_to(inside.resolve()):
                    libs.setdefault(soname, target)
            elif match := _LOADER_LINE.match(line):
                loader = Path(match.group(1))
    return libs, loader


def _find_host_library(name: str, near: Iterable[Path]) -> Path | None:
    for directory in {p.parent for p in near}:
        if (directory / name).exists():
            return directory / name
    return None


def _lib_destination(root: Path, host_path: Path, multiarch: str) -> Path:
    """Where a host library lands in the env: its own /usr/lib path, else the multiarch dir."""
    text = str(host_path)
    for prefix, dest in (("/usr/lib64/", "usr/lib64/"), ("/lib64/", "usr/lib64/")):
        if text.startswith(prefix):
            return root / dest / text[len(prefix) :]
    for prefix in ("/usr/lib/", "/lib/"):
        if text.startswith(prefix):
            return root / "usr/lib" / text[len(prefix) :]
    return root / "usr/lib" / multiarch / host_path.name


def _copy_libraries(root: Path, prefix: Path, multiarch: str) -> None:
    libs, loader = _library_closure(_elf_files(prefix), prefix)
    for name in _DLOPENED:
        if name not in libs and (found := _find_host_library(name, libs.values())):
            libs[name] = found
    for soname, host_path in libs.items():
        dest = _lib_destination(root, host_path.parent / soname, multiarch)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copy2(host_path.resolve(), dest)
    if loader is None:
        raise SandboxEnvironmentError("ldd named no dynamic loader for the interpreter")
    dest = _lib_destination(root, loader, multiarch)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(loader.resolve(), dest)


def _write_etc(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        "sandbox:x:1000:1000:sandbox:/tmp:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text("root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    (root / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    (root / "usr" / "bin" / "python3").symlink_to("../local/bin/python3")


def _top_level_names(dist_info: Path) -> tuple[str, ...]:
    top = dist_info / "top_level.txt"
    if top.is_file():
        names = {n.strip() for n in top.read_text().splitlines() if n.strip()}
    else:
        names = set()
        record = dist_info / "RECORD"
        for line in record.read_text().splitlines() if record.is_file() else []:
            first = line.split(",", 1)[0].split("/", 1)
            head = first[0]
            if head.endswith((".dist-info", ".data")) or head in ("..", "__pycache__", "bin"):
                continue
            if len(first) == 2 or head.endswith((".py", ".so")):
                names.add(head.split(".", 1)[0])
    return tuple(sorted(n for n in names if n.isidentifier() and not n.startswith("_")))


def _installed(site: Path, requested: Sequence[str]) -> list[dict[str, object]]:
    found = []
    for dist_info in sorted(site.glob("*.dist-info")):
        meta = (dist_info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name:\s*(.+)$", meta, re.M)
        version = re.search(r"^Version:\s*(.+)$", meta, re.M)
        if not (name and version):
            continue
        found.append(
            {
                "name": name.group(1).strip(),
                "version": version.group(1).strip(),
                "import_names": list(_top_level_names(dist_info)),
                "requested": normalize(name.group(1)) in requested,
            }
        )
    return found


def _smoke_test(root: Path, version: str, packages: Sequence[str], site: Path) -> None:
    """Import every requested package with only the env mounted, so a missing library shows now."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        _say("bwrap not found: skipping the in-sandbox import check")
        return
    names = sorted(
        {n for p in _installed(site, packages) if p["requested"] for n in p["import_names"]}  # type: ignore[attr-defined]
    )
    script = "import " + ", ".join(names) if names else "pass"
    proc = subprocess.run(
        [
            bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--ro-bind",
            str(root / "usr"),
            "/usr",
            "--ro-bind",
            str(root / "etc"),
            "/etc",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",  # noqa: S108 - the check's own sandbox
            "--clearenv",
            "--setenv",
            "HOME",
            "/tmp",  # noqa: S108 - inside that sandbox
            f"/usr/local/bin/{_python_dir(version)}",
            "-I",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={},
    )
    if proc.returncode != 0:
        raise SandboxEnvironmentError(
            f"the new environment cannot `{script}` inside a sandbox:\n{proc.stderr.strip()}"
        )


def build_env(
    directory: Path,
    packages: Sequence[str],
    *,
    base_prefix: Path | None = None,
    force: bool = False,
) -> SandboxEnv:
    """Build (or keep, when it already matches) the environment at ``directory``."""
    requested = sorted({normalize(p) for p in packages if p.strip()})
    if not requested:
        raise SandboxEnvironmentError(
            "CODE_INTERPRETER_ALLOWED_PACKAGES is empty; list at least pytest"
        )
    if not force:
        try:
            env = load_env(directory, requested)
        except SandboxEnvironmentError:
            pass
        else:
            _say(f"sandbox environment at {directory} is up to date ({', '.join(requested)})")
            return env
    base = Path(base_prefix or sys.base_prefix).resolve()
    version = (
        ".".join(map(str, sys.version_info[:3])) if base_prefix is None else _probe_version(base)
    )
    multiarch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    stage = directory.with_name(f"{directory.name}.build-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    root = stage / "root"
    prefix = root / "usr" / "local"
    pydir = _python_dir(version)
    _say(f"building the sandbox environment in {stage} from {base} (Python {version})")
    old_umask = os.umask(0o022)
    try:
        _copy_interpreter(base, version, prefix)
        site = prefix / "lib" / pydir / "site-packages"
        _install_packages(base / "bin" / pydir, requested, site)
        _copy_libraries(root, prefix, multiarch)
        _write_etc(root)
        _say("compiling bytecode")
        subprocess.run(
            [
                str(prefix / "bin" / pydir),
                "-I",
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                str(prefix / "lib" / pydir),
            ],
            check=False,
            env={},
            stdout=subprocess.DEVNULL,
        )
        _smoke_test(root, version, requested, site)
        manifest = {
            "format": FORMAT_VERSION,
            "python": version,
            "machine": os.uname().machine,
            "requested": requested,
            "installed": _installed(site, requested),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for path in [stage, *stage.rglob("*")]:
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod((mode | 0o444 | (0o111 if mode & 0o100 else 0)) & ~0o022)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        os.umask(old_umask)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    stage.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    _say(f"sandbox environment ready at {directory} (restart running servers to use it)")
    return load_env(directory, requested)


def _probe_version(base: Path) -> str:
    out = subprocess.run(
        [
            str(base / "bin" / "python3"),
            "-c",
            "import sys; print('.'.join(map(str, sys.version_info[:3])))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    from mcp_servers.code_interpreter._settings import load_settings

    parser = argparse.ArgumentParser(
        prog="scripts/setup_sandbox_env.sh",
        description="Build the sandbox's read-only package environment (idempotent).",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when it is up to date")
    parser.add_argument(
        "--python-prefix", type=Path, help="interpreter prefix to copy (default: this one's)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        build_env(
            settings.effective_sandbox_env_dir,
            settings.allowed_packages,
            base_prefix=args.python_prefix,
            force=args.force,
        )
    except SandboxEnvironmentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
