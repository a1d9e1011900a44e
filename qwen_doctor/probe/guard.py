"""What every request to one server shares during one run: its consecutive timeouts and the run's deadline.

A server that stalls every request (a stuck engine behind a live HTTP loop, a proxy holding connections)
would make each probe check wait out its own timeouts, one after the other. The probe checks of one target
share one :class:`RequestGuard` (``ctx.memo``, so per run and per target):

- after :data:`STALL_LIMIT` requests in a row timed out (no connection, no answer, or an answer that did not
  complete in time), no more requests are sent: the checks not yet started SKIP saying so, and a request a
  running check still makes comes back at once as failed ("stalled");
- a request never runs past the run's ``--deadline``: its time limit is cut so that it ends
  :data:`DEADLINE_MARGIN` seconds before it, and no request starts with less than :data:`MIN_LEFT` seconds left
  (the check then reports on what it got, instead of being cut off by the runner as ERROR).

Any completed answer, or a failure that is not a timeout (refused, reset, ...), resets the count.
Standard library only (imported by every probe check).
"""

from __future__ import annotations

import threading
import time

#: consecutive timed-out requests after which the server counts as stalled
STALL_LIMIT = 3
#: a request ends this long before the run's deadline at the latest (seconds)
DEADLINE_MARGIN = 0.5
#: no request starts with less time than this left before the run's deadline (seconds)
MIN_LEFT = 1.0


class RequestGuard:
    """Thread-safe: the latency probe sends requests from several threads."""

    def __init__(self, *, limit: int = STALL_LIMIT, deadline_at: float | None = None) -> None:
        self.limit = max(1, int(limit))
        self.deadline_at = deadline_at  # time.monotonic() of the run's --deadline, or None
        self._lock = threading.Lock()
        self._consecutive: list[str] = []  # the requests that timed out in a row (most recent last)
        self._stalled: str | None = None

    # -- before a request ---------------------------------------------------------------------------
    def halted(self) -> str | None:
        """Why no further request is sent to this server (None: go on)."""
        with self._lock:
            if self._stalled is not None:
                return self._stalled
        left = self.left()
        if left is not None and left < MIN_LEFT:
            return f"the run's --deadline is {max(0.0, left):.1f} s away: no request was sent"
        return None

    @property
    def stalled(self) -> bool:
        with self._lock:
            return self._stalled is not None

    def left(self) -> float | None:
        """Seconds until the run's deadline (None: no deadline)."""
        return None if self.deadline_at is None else self.deadline_at - time.monotonic()

    def end_by(self) -> float | None:
        """The time.monotonic() a request must have ended by (None: no deadline)."""
        return None if self.deadline_at is None else self.deadline_at - DEADLINE_MARGIN

    # -- after a request -----------------------------------------------------------------------------
    def record(self, what: str, timed_out: bool) -> None:
        """One request's outcome: `what` is e.g. "GET /health"; timed_out when it got no (complete) answer in time."""
        with self._lock:
            if self._stalled is not None:
                return
            if not timed_out:
                self._consecutive.clear()
                return
            self._consecutive.append(what)
            if len(self._consecutive) >= self.limit:
                names = ", ".join(self._consecutive[-self.limit :])
                self._stalled = f"server stalled: {self.limit} consecutive requests timed out ({names}); no more requests are sent to it"
