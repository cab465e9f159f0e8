"""Only the allowed packages import; path tricks, .pth files and pip change nothing."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    REPO_ROOT,
    Host,
    labels,
    open_sandbox,
    program,
)

pytestmark = pytest.mark.anyio

# Importable on the host (the project's venv), never in the sandbox; none of them is a
# dependency of numpy, pandas, requests or pytest.
DISALLOWED = ["pydantic", "mcp", "promptcraft", "httpx2", "jwt", "redis", "argon2", "anyio", "yaml"]


def host_site_dirs() -> list[str]:
    dirs = {
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        str(REPO_ROOT),
        "/usr/lib/python3/dist-packages",
        "/usr/local/lib/python3.11/site-packages",
        *map(str, Path("/root/.pyenv/versions").glob("*/lib/python3*/site-packages")),
        *sys.path[1:],
    }
    return sorted(d for d in dirs if d)


async def test_the_allowed_packages_import(secret_runtime: Runtime, host: Host) -> None:
    code = (
        "import numpy, pandas, requests, pytest\n"
        "print('VERSIONS', numpy.__version__, pandas.__version__, requests.__version__, pytest.__version__)\n"
    )
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(code, timeout=20)
    assert out.status == "ok" and "VERSIONS" in out.stdout, out.summary()


async def test_a_disallowed_package_fails_to_import_with_a_clear_message(
    secret_runtime: Runtime, host: Host
) -> None:
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute("import pydantic\nprint('IMPORTED')\n")
    assert out.status == "error", out.summary()
    assert "IMPORTED" not in out.stdout
    assert "ModuleNotFoundError" in out.stderr and "pydantic" in out.stderr, out.summary()


async def test_sys_path_and_pythonpath_tricks_reach_no_host_package(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import importlib, importlib.util, os, site, subprocess, sys
        for directory in HOST_SITES:
            sys.path.insert(0, directory)
            try:
                site.addsitedir(directory)
            except Exception:
                pass
        for name in DISALLOWED:
            attempt(f"import {name}", lambda n=name: importlib.import_module(n).__file__)

        def from_file():
            for directory in HOST_SITES:
                path = os.path.join(directory, "pydantic", "__init__.py")
                spec = importlib.util.spec_from_file_location("pydantic_from_host", path)
                if spec and spec.loader and os.path.exists(path):
                    module = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
                    return path
            raise FileNotFoundError("no host pydantic visible")
        attempt("import from a host file path", from_file)

        def child_with_pythonpath():
            env = {"PYTHONPATH": os.pathsep.join(HOST_SITES), "PYTHONNOUSERSITE": ""}
            done = subprocess.run([sys.executable, "-c", "import pydantic; print(pydantic.__file__)"],
                                  env=env, capture_output=True, text=True, timeout=20)
            if done.returncode:
                raise ImportError((done.stderr.strip().splitlines() or ["?"])[-1])
            return done.stdout
        attempt("import in a child with PYTHONPATH", child_with_pythonpath)
        print("DONE", flush=True)
    """
    code = program(body, HOST_SITES=host_site_dirs(), DISALLOWED=DISALLOWED)
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(code, timeout=25)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
    assert len(labels(out.stdout, "BLOCKED")) == len(DISALLOWED) + 2, out.summary()


async def test_pth_files_reach_no_host_package_and_do_not_persist(
    secret_runtime: Runtime, host: Host
) -> None:
    plant = """
        import importlib, os, site, subprocess, sys, tempfile
        line = "import sys; print('PTH_EXECUTED_' + 'FROM_RUN_ONE', flush=True)"
        content = "\\n".join(HOST_SITES) + "\\n" + line + "\\n"
        scratch = tempfile.mkdtemp()
        with open(os.path.join(scratch, "pcadv.pth"), "w") as handle:
            handle.write(content)
        site.addsitedir(scratch)
        for name in DISALLOWED:
            attempt(f"import {name} after .pth", lambda n=name: importlib.import_module(n).__file__)

        def user_site():
            os.makedirs(site.getusersitepackages(), exist_ok=True)
            with open(os.path.join(site.getusersitepackages(), "pcadv.pth"), "w") as handle:
                handle.write(content)
            done = subprocess.run([sys.executable, "-c", "import pydantic"], capture_output=True,
                                  text=True, timeout=20)
            if done.returncode:
                raise ImportError((done.stderr.strip().splitlines() or ["?"])[-1])
            return "IMPORTED via user site"
        attempt("import pydantic via the user site", user_site)
        print("DONE", flush=True)
    """
    check = """
        import importlib
        attempt("import pydantic in a fresh run", lambda: importlib.import_module("pydantic"))
        print("DONE", flush=True)
    """
    consts = {"HOST_SITES": host_site_dirs(), "DISALLOWED": DISALLOWED}
    async with open_sandbox(secret_runtime, host) as sandbox:
        first = await sandbox.execute(program(plant, **consts), timeout=25)
        second = await sandbox.execute(program(check), timeout=10)
    assert first.status == "ok" and "DONE" in first.stdout, first.summary()
    assert labels(first.stdout, "ALLOWED") == [], first.summary()
    assert second.status == "ok" and "DONE" in second.stdout, second.summary()
    assert "PTH_EXECUTED_FROM_RUN_ONE" not in second.stdout + second.stderr, "a .pth persisted"
    assert labels(second.stdout, "ALLOWED") == [], second.summary()


async def test_nothing_can_be_installed_at_run_time(secret_runtime: Runtime, host: Host) -> None:
    body = """
        import importlib, subprocess, sys, urllib.request

        def pip_install():
            done = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                 "--timeout", "2", "--retries", "0", "colorama"],
                capture_output=True, text=True, timeout=30)
            if done.returncode:
                raise RuntimeError((done.stderr.strip().splitlines() or ["?"])[-1])
            return "INSTALLED"
        attempt("pip install", pip_install)
        attempt("import colorama", lambda: importlib.import_module("colorama").__file__)
        attempt("download from pypi", lambda: urllib.request.urlopen(
            "https://pypi.org/simple/colorama/", timeout=2).status)
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body), timeout=30)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
