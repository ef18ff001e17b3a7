"""Settings from the environment, read once per process; the policy file is loaded here."""

from __future__ import annotations

import functools
import os
import secrets
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
    public_url: str = "http://127.0.0.1:8000"
    slack_bot_token: str | None = None
    slack_signing_secrets: tuple[str, ...] = ()
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str | None = None
    digest_cron: str = "0 8 * * *"
    secret_key: str = ""
    trusted_email_header: str | None = None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

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
            public_url=os.environ.get("AIMS_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
            slack_bot_token=_slack_token(os.environ.get("SLACK_BOT_TOKEN")),
            slack_signing_secrets=_secrets(os.environ.get("SLACK_SIGNING_SECRET", "")),
            slack_api_url=os.environ.get("AIMS_SLACK_API_URL", "https://slack.com/api/"),
            slack_channel=os.environ.get("AIMS_SLACK_CHANNEL") or None,
            digest_cron=os.environ.get("AIMS_DIGEST_CRON", "0 8 * * *"),
            secret_key=_secret_key(data_dir),
            trusted_email_header=os.environ.get("AIMS_TRUSTED_EMAIL_HEADER") or None,
        )


class SettingsError(ValueError):
    pass


_PLACEHOLDERS = {"changeme", "change-me", "xoxb-your-token", "xoxb-...", "secret", "todo", "placeholder"}


def _slack_token(value: str | None) -> str | None:
    if not value:
        return None
    if value.strip().lower() in _PLACEHOLDERS or not value.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN must be a bot token (xoxb-…), not a placeholder")
    if not os.environ.get("SLACK_SIGNING_SECRET"):
        raise SettingsError("SLACK_SIGNING_SECRET is required with SLACK_BOT_TOKEN (interactions are verified)")
    return value


def _secret_key(data_dir: Path) -> str:
    """AIMS_SECRET_KEY signs session cookies. Without it (local use) one is generated once and
    kept in the data directory, so sessions survive a restart."""
    configured = os.environ.get("AIMS_SECRET_KEY")
    if configured is not None:
        if configured.strip().lower() in _PLACEHOLDERS or len(configured) < 32:
            raise SettingsError("AIMS_SECRET_KEY must be at least 32 random characters, not a placeholder")
        return configured
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _secrets(value: str) -> tuple[str, ...]:
    """Comma-separated: during a rotation both the old and the new secret are accepted."""
    secrets = tuple(part.strip() for part in value.split(",") if part.strip())
    for secret in secrets:
        if secret.lower() in _PLACEHOLDERS or len(secret) < 16:
            raise SettingsError("SLACK_SIGNING_SECRET looks like a placeholder (need the app's real secret)")
    return secrets


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
