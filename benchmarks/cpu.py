"""CPU time as the benchmarks count it."""

from __future__ import annotations

import resource


def own_cpu() -> float:
    """CPU seconds (user + system) of this process and of its reaped children."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
