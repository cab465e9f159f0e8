from __future__ import annotations

import json

import pytest
from mcp import Client

from tests.code_interpreter.conftest import OpenClient, call

pytestmark = [pytest.mark.anyio, pytest.mark.bwrap]


async def test_hello_world_runs_and_reports_its_output_status_and_resources(client: Client) -> None:
    result = await call(client, "execute_code", code="print('hello', 6 * 7)")
    assert result["status"] == "ok"
    assert result["exit_code"] == 0
    assert result["stdout"] == "hello 42\n"
    assert result["stderr"] == ""
    assert result["truncated"] is False
    assert 0 < result["duration_ms"] < 30_000
    assert result["peak_memory_bytes"] > 0


async def test_stdin_and_files_are_beside_the_program(client: Client) -> None:
    code = "import sys\nprint(sys.stdin.read().upper())\nprint(open('data/in.csv').read().strip())"
    result = await call(
        client, "execute_code", code=code, stdin="from stdin", files={"data/in.csv": "a,b\n1,2"}
    )
    assert result["status"] == "ok", result
    assert result["stdout"] == "FROM STDIN\na,b\n1,2\n"


async def test_a_non_zero_exit_is_an_error_with_its_code(client: Client) -> None:
    result = await call(client, "execute_code", code="import sys\nprint('before')\nsys.exit(3)")
    assert (result["status"], result["exit_code"], result["stdout"]) == ("error", 3, "before\n")


async def test_an_uncaught_exception_shows_the_users_traceback_only(client: Client) -> None:
    result = await call(client, "execute_code", code="def f():\n    return 1 / 0\nf()\n")
    assert result["status"] == "error"
    assert result["exit_code"] == 1
    assert "ZeroDivisionError" in result["stderr"]
    assert 'File "/tmp/main.py", line 2, in f' in result["stderr"]
    assert "harness" not in result["stderr"]


async def test_a_syntax_error_is_an_error(client: Client) -> None:
    result = await call(client, "execute_code", code="def broken(:\n    pass\n")
    assert result["status"] == "error"
    assert "SyntaxError" in result["stderr"]


async def test_the_allowed_packages_import(client: Client) -> None:
    code = "import numpy as np, pandas as pd, requests, pytest\nprint(pd.DataFrame({'a': np.arange(3)}).a.sum())"
    result = await call(client, "execute_code", code=code, timeout_seconds=60)
    assert result["status"] == "ok", result
    assert result["stdout"] == "3\n"


async def test_importing_anything_else_fails_with_a_message_naming_the_setting(
    client: Client,
) -> None:
    result = await call(client, "execute_code", code="import pydantic")
    assert result["status"] == "error"
    assert "ModuleNotFoundError: No module named 'pydantic'" in result["stderr"]
    assert "CODE_INTERPRETER_ALLOWED_PACKAGES" in result["stderr"]
    assert "nothing can be installed" in result["stderr"].lower()


async def test_list_packages_names_the_allowed_packages_and_their_versions(client: Client) -> None:
    result = await call(client, "list_packages")
    requested = {p["name"].lower(): p for p in result["packages"] if p["requested"]}
    assert set(requested) == {"numpy", "pandas", "requests", "pytest"}
    assert all(p["version"] for p in requested.values())
    assert "numpy" in requested["numpy"]["import_names"]
    assert result["backend"] == "bubblewrap"
    assert result["python_version"].startswith("3.11")


async def test_nothing_written_by_one_run_is_seen_by_the_next(client: Client) -> None:
    write = "import os\nopen('/tmp/left.txt', 'w').write('x')\nopen('/dev/shm/left', 'w').write('x')\nos.environ['LEFT'] = '1'"
    look = "import os\nprint(os.path.exists('/tmp/left.txt'), os.path.exists('/dev/shm/left'), 'LEFT' in os.environ)"
    assert (await call(client, "execute_code", code=write))["status"] == "ok"
    assert (await call(client, "execute_code", code=look))["stdout"] == "False False False\n"


async def test_the_run_sees_only_the_sandboxs_own_environment(client: Client) -> None:
    code = (
        "import json, os\n"
        "try:\n    pid1 = open('/proc/1/environ', 'rb').read().decode()\n"
        "except OSError as exc:\n    pid1 = type(exc).__name__\n"
        "print(json.dumps({'env': sorted(os.environ), 'pid1': pid1, 'self': open('/proc/self/environ').read(),"
        " 'root': sorted(os.listdir('/')), 'uid': os.getuid()}))"
    )
    seen = json.loads((await call(client, "execute_code", code=code))["stdout"])
    assert seen["pid1"] in ("", "PermissionError")  # pid 1 keeps capabilities the run lacks
    assert (
        seen["self"] == ""
    )  # the initial environment block is empty; os.environ is set in-process
    assert not [
        k for k in seen["env"] if k.startswith(("PROMPTCRAFT", "CODE_INTERPRETER", "PYTEST"))
    ]
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib64", "opt", "proc", "tmp", "usr"}
    assert seen["uid"] != 0


async def test_a_run_has_ptys_of_its_own(client: Client) -> None:
    code = "import os, pty\nmain, side = pty.openpty()\nprint(os.ttyname(side), sorted(os.listdir('/dev/pts')))"
    for _ in range(2):  # the first run's pty is not there for the second
        result = await call(client, "execute_code", code=code)
        assert result["stdout"] == "/dev/pts/0 ['0', 'ptmx']\n"


async def test_invalid_utf8_output_arrives_as_text(client: Client) -> None:
    code = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end\\n')"
    result = await call(client, "execute_code", code=code)
    assert result["stdout"] == "ok \ufffd\ufffd end\n"


@pytest.mark.parametrize(
    "files",
    [{"../escape.txt": "x"}, {"/tmp/abs.txt": "x"}, {"a/../../b": "x"}, {"main.py": "x"}],
)
async def test_a_file_name_outside_the_working_directory_is_refused(
    client: Client, files: dict[str, str]
) -> None:
    result = await client.call_tool("execute_code", {"code": "pass", "files": files})
    assert result.is_error
    assert "files" in str(result.content)


async def test_only_python_is_accepted(client: Client) -> None:
    result = await client.call_tool("execute_code", {"code": "echo hi", "language": "bash"})
    assert result.is_error
    assert "only python" in str(result.content)


async def test_a_timeout_beyond_the_configured_cap_is_refused_with_the_setting(
    open_client: OpenClient,
) -> None:
    async with open_client(max_timeout_seconds=10) as client:
        result = await client.call_tool("execute_code", {"code": "pass", "timeout_seconds": 11})
    assert result.is_error
    assert "CODE_INTERPRETER_MAX_TIMEOUT_SECONDS" in str(result.content)


async def test_the_default_timeout_comes_from_the_settings(open_client: OpenClient) -> None:
    async with open_client(timeout_seconds=7, test_timeout_seconds=9) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["execute_code"].input_schema["properties"]["timeout_seconds"]["default"] == 7
    assert tools["run_tests"].input_schema["properties"]["timeout_seconds"]["default"] == 9
    assert tools["execute_code"].output_schema is not None
