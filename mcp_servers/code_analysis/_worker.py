"""A warm worker process for bandit, beside the rest of the analysis.

Bandit (about 70 ms for 1,000 lines) is pure Python, like the rest: in one process
they would share one core. The server hands bandit to one worker process started
once (bandit's rules loaded there), runs the other analysers meanwhile (together
about as long), and collects bandit's result, so a call costs about the slower half
instead of the sum. Results come back as our own dataclasses.

If the worker cannot be started or dies, this process runs bandit itself from then on.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

from mcp_servers.code_analysis._bandit import BanditRunner
from mcp_servers.code_analysis._findings import AnalyserOutput, AnalyserRun

logger = logging.getLogger(__name__)


class _State:
    """Process-wide: the pool (in the server) or the warm runners (in the worker)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: Any = None
        self.broken = False
        self.bandit: BanditRunner | None = None


_STATE = _State()


def _init() -> None:
    _watch_parent(os.getppid())
    _STATE.bandit = BanditRunner()
    _STATE.bandit.warm()


def _watch_parent(parent: int) -> None:
    """Exit when the server process is gone.

    uvicorn ends by re-raising SIGTERM, so the server's exit handlers (which would stop
    this worker) do not run; without this the worker would outlive it.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ping() -> bool:
    return True


def _analyse(source: str, filename: str, nosec: dict[int, set[str]]) -> list[AnalyserOutput]:
    bandit = _STATE.bandit or BanditRunner()
    return [bandit.run(source, filename, nosec)]


def _pool() -> Any:
    with _STATE.lock:
        if _STATE.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # "spawn": forking a process that runs an event loop and threads is unsafe.
            _STATE.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_init
            )
            atexit.register(shutdown)
        return _STATE.pool


def shutdown() -> None:
    """Stop the worker while the interpreter is still whole (at exit, or when asked)."""
    with _STATE.lock:
        pool, _STATE.pool = _STATE.pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _give_up() -> None:
    logger.warning("bandit worker process failed; running bandit in-process")
    with _STATE.lock:
        _STATE.broken = True
        pool, _STATE.pool = _STATE.pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def start() -> bool:
    """Start the worker now (it loads its analysers in the background); False if unavailable."""
    if _STATE.broken:
        return False
    try:
        _pool().submit(_ping)
    except Exception:  # no processes allowed here, or out of resources
        _give_up()
        return False
    return True


class WorkerJob:
    """bandit for one input, submitted now, collected later."""

    def __init__(
        self,
        *,
        bandit: BanditRunner,
        source: str,
        filename: str,
        nosec: dict[int, set[str]],
        timeout: float,
    ) -> None:
        self.bandit = bandit
        self.source, self.filename, self.nosec, self.timeout = source, filename, nosec, timeout
        self.started = time.perf_counter()
        self.future: Future[list[AnalyserOutput]] | None = None
        if _STATE.broken:
            return
        try:
            self.future = _pool().submit(_analyse, source, filename, nosec)
        except Exception:  # a broken pool: run in-process when collected
            _give_up()

    def _here(self) -> list[AnalyserOutput]:
        return [self.bandit.run(self.source, self.filename, self.nosec)]

    def collect(self) -> list[AnalyserOutput]:
        if self.future is None:
            return self._here()
        try:
            return self.future.result(timeout=self.timeout)
        except TimeoutError:
            _give_up()
            detail = f"did not finish within {self.timeout:g}s (PROMPTCRAFT_CODE_ANALYSIS_ANALYSER_TIMEOUT_SECONDS)"
            run = AnalyserRun("bandit", "failed", f"bandit {detail}", version=self.bandit.version)
            return [AnalyserOutput(run)]
        except Exception:  # the worker died (BrokenProcessPool): once more, in-process
            _give_up()
            return self._here()
