"""In a worker, work someone waits on goes first: background work holds back while a register
write runs, goes as soon as it is done, and never waits longer than its patience."""

from __future__ import annotations

import threading
import time

from activities.foreground import Foreground


def _waiter(foreground: Foreground) -> tuple[threading.Thread, threading.Event]:
    released = threading.Event()

    def wait() -> None:
        foreground.wait_for_quiet()
        released.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, released


def test_background_work_goes_at_once_when_nothing_else_runs():
    started = time.monotonic()
    Foreground(quiet_seconds=0.05, patience_seconds=5).wait_for_quiet()
    assert time.monotonic() - started < 0.5


def test_background_work_waits_for_a_running_register_write_and_goes_when_it_ends():
    foreground = Foreground(quiet_seconds=0, patience_seconds=30)
    with foreground.running():
        thread, released = _waiter(foreground)
        assert not released.wait(0.1)  # held back while the write runs
    assert released.wait(5)  # and released by its end, not by the patience (30 s)
    thread.join(5)


def test_background_work_never_waits_longer_than_its_patience():
    foreground = Foreground(quiet_seconds=0, patience_seconds=0.05)
    with foreground.running():  # a write that does not end while we look
        started = time.monotonic()
        foreground.wait_for_quiet()
        assert 0.04 <= time.monotonic() - started < 1.0
