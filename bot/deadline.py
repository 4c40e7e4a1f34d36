"""The stop deadline: how long finishing a meeting may still take after SIGTERM/SIGINT.

A first stop request sets it ``meeting.shutdown_grace_s`` ahead; a second one brings it to now. It only ever
comes closer. Work that must end by it runs inside ``bound()``, which also applies a deadline brought closer
while the work is running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class StopDeadline:
    """A monotonic time by which finishing must be done, unset until a stop is requested.

    Args:
        clock: monotonic seconds (the same clock as the event loop's by default).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.at: float | None = None
        self._scopes: set[Callable[[], None]] = set()

    def set_in(self, seconds: float) -> None:
        """Finish within ``seconds`` from now, unless an earlier deadline is already set."""
        at = self._clock() + max(0.0, seconds)
        self.at = at if self.at is None else min(self.at, at)
        for update in list(self._scopes):
            update()

    def remaining(self) -> float | None:
        """Seconds left (0 once passed), or None when no stop was requested."""
        return None if self.at is None else max(0.0, self.at - self._clock())

    @property
    def passed(self) -> bool:
        """Whether a deadline is set and reached."""
        left = self.remaining()
        return left is not None and left <= 0

    @asynccontextmanager
    async def bound(self, cap_s: float | None = None) -> AsyncIterator[None]:
        """Run the body for at most ``cap_s`` seconds (None: no cap) and never past the deadline.

        Raises TimeoutError from the body when either comes first, like ``asyncio.timeout``.
        """
        loop = asyncio.get_running_loop()
        cap_at = None if cap_s is None else loop.time() + cap_s
        async with asyncio.timeout(None) as scope:

            def update() -> None:
                left = self.remaining()
                ends = [t for t in (cap_at, None if left is None else loop.time() + left) if t is not None]
                if ends and not scope.expired():
                    scope.reschedule(min(ends))

            update()
            self._scopes.add(update)
            try:
                yield
            finally:
                self._scopes.discard(update)
