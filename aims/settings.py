"""Settings from the environment, read once per process; the policy file is loaded here."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from aims.domain.classification import check_policy
from aims.domain.conditions import ConditionError
from aims.domain.policy import Policy

TASK_QUEUE = "aims-lifecycle"


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    policy_file: Path | None
    temporal_address: str
    temporal_namespace: str
    task_queue: str

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("AIMS_DATA_DIR", ".aims")).resolve()
        policy = os.environ.get("AIMS_POLICY_FILE")
        return cls(
            data_dir=data_dir,
            database_url=os.environ.get("AIMS_DATABASE_URL", f"sqlite:///{data_dir / 'aims.db'}"),
            policy_file=Path(policy) if policy else None,
            temporal_address=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
            temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
            task_queue=os.environ.get("AIMS_TASK_QUEUE", TASK_QUEUE),
        )


def load_policy(path: Path | None) -> Policy:
    """The policy at `path`, or the shipped default; any error names the file and the key."""
    source = str(path) if path else "aims/policy/default.yaml"
    try:
        default = yaml.safe_load(resources.files("aims.policy").joinpath("default.yaml").read_text())
        raw = yaml.safe_load(path.read_text()) if path else default
        if not isinstance(raw, dict):
            raise PolicyError(f"policy {source}: expected a mapping of keys")
        if raw.get("extends") == "default":
            # Top-level keys given here replace the default's; everything else is inherited.
            raw = default | {key: value for key, value in raw.items() if key != "extends"}
        elif "extends" in raw:
            raise PolicyError(f"policy {source}: extends: only 'default' is known")
        return check_policy(Policy.model_validate(raw))
    except (OSError, yaml.YAMLError, ValidationError, ConditionError) as error:
        raise PolicyError(f"policy {source}: {error}") from error


@functools.cache
def current_policy() -> Policy:
    return load_policy(Settings.from_env().policy_file)
