"""Work someone waits on comes first in a worker process.

A register write holds an Update a person is waiting on (a click, a form); a delivery or a
Home refresh is waited on by nobody. In a burst they compete for one GIL, so background work
holds back until no register write has run for a moment, but never longer than `patience`:
under steady load it runs late, never not at all. (The API does the same for Slack's answers.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Foreground:
    def __init__(self, quiet_seconds: float = 0.05, patience_seconds: float = 1.0):
        self.quiet_seconds = quiet_seconds
        self.patience_seconds = patience_seconds
        self._running = 0
        self._last_finished = float("-inf")
        self._changed = threading.Condition()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around work someone waits on."""
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._last_finished = time.monotonic()
                self._changed.notify_all()

    def wait_for_quiet(self) -> None:
        """Before background work: until nothing in the foreground has run for `quiet_seconds`,
        or `patience_seconds` have passed."""
        give_up = time.monotonic() + self.patience_seconds
        with self._changed:
            while (now := time.monotonic()) < give_up:
                if self._running:
                    self._changed.wait(give_up - now)
                    continue
                quiet_at = self._last_finished + self.quiet_seconds
                if now >= quiet_at:
                    return
                self._changed.wait(min(quiet_at, give_up) - now)
