"""How every aims activity is declared: run to its end once started, never interrupted.

The SDK stops a thread's activity on cancellation (a worker shutting down, a timeout) by raising
an exception into its thread at whatever line it runs. That can land between a channel's send
and the commit that records it (so the retry sends again), inside the database pool, or — as
CPython hands an injected exception to a thread being started from the activity's thread — in
a thread the activity starts, which then dies before it has started and leaves the activity
waiting for it forever (a worker that never finished shutting down). Every activity here is
short and bounded (register writes; channel calls with their own timeouts), so a cancelled one
finishes instead, and a worker's shutdown waits for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import activity

F = TypeVar("F", bound=Callable[..., Any])


def defn(name: str) -> Callable[[F], F]:
    return activity.defn(name=name, no_thread_cancel_exception=True)
