"""What every aims workflow shares: how it writes the register (local activities, retried for as
long as it takes) and how it refuses a command (a non-retryable error the API maps to 4xx)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from aims.domain.state import Refused

# The register must catch up whatever happens: retry for as long as it takes.
PERSIST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
REGISTER_TIMEOUT = timedelta(seconds=10)


def refusal(error: Refused) -> ApplicationError:
    return ApplicationError(error.message, type=error.code, non_retryable=True)
