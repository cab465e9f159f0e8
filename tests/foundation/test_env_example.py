from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_as_the_code_defines_it() -> None:
    render = runpy.run_path(str(ROOT / "scripts" / "gen_env_example.py"))["render"]
    committed = (ROOT / ".env.example").read_text()
    assert committed == render(), (
        ".env.example is out of date: run .venv/bin/python scripts/gen_env_example.py > .env.example"
    )


def test_every_setting_in_env_example_says_what_it_means() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[index - 1].startswith("# "), f"{line.split('=')[0]} has no description"
