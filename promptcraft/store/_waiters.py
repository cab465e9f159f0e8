"""Local waiters on records, shared by both backends; each backend decides what wakes them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from promptcraft.store._types import Record


class WaiterTable:
    """Parked ``wait_for_change`` calls of one store object, by ``{kind}:{key}``."""

    def __init__(self) -> None:
        self._events: dict[str, set[anyio.Event]] = {}

    def __bool__(self) -> bool:
        return bool(self._events)

    def notify(self, slot: str) -> None:
        for event in self._events.get(slot, ()):
            event.set()

    def notify_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

    async def wait(
        self,
        slot: str,
        read: Callable[[], Awaitable[Record | None]],
        *,
        after_version: int,
        timeout: float,
        before_read: Callable[[], Awaitable[None]],
    ) -> Record | None:
        """Re-read on every wake-up until the version passes ``after_version`` or time runs out.

        The waiter registers, then ``before_read`` makes sure wake-ups are flowing, then it
        reads: a change after that read is certain to set the event.
        """
        deadline = time.monotonic() + timeout
        while True:
            event = anyio.Event()
            self._events.setdefault(slot, set()).add(event)
            try:
                await before_read()
                record = await read()
                if record is None or record.version > after_version:
                    return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                with anyio.move_on_after(remaining):
                    await event.wait()
            finally:
                events = self._events.get(slot)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._events[slot]
