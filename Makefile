# PromptCraft. `make help` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help setup serve test lint format bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install what is missing: bubblewrap, redis-server, .venv, sandbox env, Node tools
	@bash scripts/setup.sh

serve: setup ## run the service on 127.0.0.1:8000 (embedded: SQLite, bubblewrap)
	.venv/bin/promptcraft serve

test: setup ## run the whole test suite
	.venv/bin/python -m pytest

lint: setup ## ruff (lint and format check) and mypy --strict
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: setup ## apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: setup ## run every benchmark and print its figures
	@for b in benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done
