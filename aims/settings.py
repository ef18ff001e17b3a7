"""Settings from the environment, read once per process; the policy file is loaded here."""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass, field
from importlib import resources
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml
from pydantic import ValidationError

from aims.domain.classification import check_policy
from aims.domain.conditions import ConditionError
from aims.domain.policy import Policy
from aims.payloads import PayloadKey, PayloadKeyError, new_key, parse_keys
from aims.signing import SigningKey, SigningKeyError, load_signing_key, new_signing_key

TASK_QUEUE = "aims-lifecycle"


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes out: `AIMS_SMTP_URL` (smtp://user:pass@host:587?starttls=1, or smtps://
    for TLS from the start), `AIMS_EMAIL_FROM`, and the governance list's address for stalls,
    escalations and the daily digest (`AIMS_EMAIL_GOVERNANCE`, optional)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    implicit_tls: bool = False
    governance: str | None = None
    timeout_seconds: float = 10.0


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
    # Requests from another Slack workspace or app are refused (403).
    slack_team_id: str | None = None
    slack_app_id: str | None = None
    digest_cron: str = "0 8 * * *"
    secret_key: str = ""
    # An authenticating proxy's header naming the signed-in person, honoured only from these peers.
    trusted_email_header: str | None = None
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    # Prometheus scrapes /metrics on the API and, when a port is set, each `aims worker` process,
    # sending this as a bearer token; without it metrics are off.
    metrics_token: str | None = field(default=None, repr=False)
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    # Threads the API runs its database work in. Few: on a busy API they only take turns on one
    # GIL, and each extra one slows the event loop that answers Slack (bench/slack_clicks.py).
    database_threads: int = 2
    # Temporal payloads are sealed with these (the first seals); `aims dev` makes one.
    payload_keys: tuple[PayloadKey, ...] = ()
    # Only while upgrading from a version that did not seal payloads (SECURITY.md).
    payload_plaintext: bool = False
    # mTLS and API key for Temporal (Temporal Cloud, or a server that requires them).
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: str | None = None
    # The Temporal Web UI's origin, allowed to ask /codec/decode (with credentials).
    temporal_ui_url: str | None = None
    # The organisation's Ed25519 key: signs audit checkpoints and evidence exports.
    signing_key_file: Path = Path(".aims/signing_key.pem")
    checkpoint_cron: str = "15 0 * * *"
    # The quarterly management review: on the first day of each quarter (UTC).
    management_review_cron: str = "0 6 1 1,4,7,10 *"
    # E-mail, the second channel (off unless AIMS_SMTP_URL is set).
    smtp: SmtpSettings | None = None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def channel_names(self) -> list[str]:
        """The notification channels configured here (besides the inbox, which always is)."""
        return [name for name, on in (("slack", self.slack_enabled), ("email", self.smtp is not None)) if on]

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
            slack_team_id=os.environ.get("AIMS_SLACK_TEAM_ID") or None,
            slack_app_id=os.environ.get("AIMS_SLACK_APP_ID") or None,
            digest_cron=os.environ.get("AIMS_DIGEST_CRON", "0 8 * * *"),
            secret_key=_secret_key(data_dir),
            trusted_email_header=os.environ.get("AIMS_TRUSTED_EMAIL_HEADER") or None,
            trusted_proxies=_networks(os.environ.get("AIMS_TRUSTED_PROXIES", "")),
            metrics_token=_metrics_token(os.environ.get("AIMS_METRICS_TOKEN"), os.environ.get("AIMS_METRICS_PORT")),
            metrics_port=_count("AIMS_METRICS_PORT", os.environ["AIMS_METRICS_PORT"], 1, 65535)
            if os.environ.get("AIMS_METRICS_PORT") else None,
            metrics_address=os.environ.get("AIMS_METRICS_ADDRESS", "127.0.0.1"),
            database_threads=_count("AIMS_DATABASE_THREADS", os.environ.get("AIMS_DATABASE_THREADS", "2"), 1, 64),
            payload_keys=_payload_keys(data_dir),
            payload_plaintext=os.environ.get("AIMS_PAYLOAD_PLAINTEXT", "refuse") == "accept",
            temporal_tls_cert=_path(os.environ.get("TEMPORAL_TLS_CERT")),
            temporal_tls_key=_path(os.environ.get("TEMPORAL_TLS_KEY")),
            temporal_tls_ca=_path(os.environ.get("TEMPORAL_TLS_CA")),
            temporal_api_key=os.environ.get("TEMPORAL_API_KEY") or None,
            temporal_ui_url=(os.environ.get("AIMS_TEMPORAL_UI_URL") or "").rstrip("/") or None,
            signing_key_file=Path(os.environ.get("AIMS_SIGNING_KEY_FILE") or data_dir / "signing_key.pem"),
            checkpoint_cron=os.environ.get("AIMS_CHECKPOINT_CRON", "15 0 * * *"),
            management_review_cron=os.environ.get("AIMS_MANAGEMENT_REVIEW_CRON", "0 6 1 1,4,7,10 *"),
            smtp=_smtp(os.environ.get("AIMS_SMTP_URL"), public_url=os.environ.get("AIMS_PUBLIC_URL", "")),
        )

    def signing_key(self) -> SigningKey:
        try:
            return load_signing_key(self.signing_key_file)
        except SigningKeyError as error:
            raise SettingsError(str(error)) from None

    def require_payload_keys(self) -> tuple[PayloadKey, ...]:
        if not self.payload_keys:
            raise SettingsError(
                "AIMS_PAYLOAD_KEYS is not set: Temporal payloads are sealed with it. Make a key with "
                "`aims keys new` and give the same value to every aims process (`aims dev` makes its own)."
            )
        return self.payload_keys


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
    """AIMS_SECRET_KEY signs the CSRF token of people signed in by a trusted proxy, and the message
    a page shows after a form. Without it (local use) one is generated once and kept in the data
    directory."""
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


def _metrics_token(value: str | None, port: str | None) -> str | None:
    if not value:
        if port:
            raise SettingsError("AIMS_METRICS_PORT needs AIMS_METRICS_TOKEN: a worker's metrics are served to its holder only")
        return None
    if value.strip().lower() in _PLACEHOLDERS or len(value) < 32:
        raise SettingsError("AIMS_METRICS_TOKEN must be at least 32 random characters, not a placeholder")
    return value


PAYLOAD_KEYS_FILE = "payload_keys"


def _payload_keys(data_dir: Path) -> tuple[PayloadKey, ...]:
    """AIMS_PAYLOAD_KEYS, else the keys `aims dev` keeps in the data directory, else none."""
    configured = os.environ.get("AIMS_PAYLOAD_KEYS")
    path = data_dir / PAYLOAD_KEYS_FILE
    value = configured if configured is not None else (path.read_text().strip() if path.exists() else "")
    if not value and configured is None:
        return ()
    try:
        return parse_keys(value)
    except PayloadKeyError as error:
        raise SettingsError(str(error)) from None


def ensure_local_payload_keys(data_dir: Path) -> None:
    """For `aims dev`: a key kept in the data directory, made once (like the secret key)."""
    path = data_dir / PAYLOAD_KEYS_FILE
    if os.environ.get("AIMS_PAYLOAD_KEYS") is None and not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(new_key("local") + "\n")
        path.chmod(0o600)


def ensure_local_signing_key(data_dir: Path) -> None:
    """For `aims dev`: the organisation's signing key in the data directory, made once."""
    path = Path(os.environ.get("AIMS_SIGNING_KEY_FILE") or data_dir / "signing_key.pem")
    if not path.exists():
        new_signing_key(path)


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """AIMS_TRUSTED_PROXIES: comma-separated addresses or CIDR ranges."""
    networks = []
    for part in (entry.strip() for entry in value.split(",")):
        if part:
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise SettingsError(f"AIMS_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def check_proxy_settings(settings: Settings) -> None:
    """A trusted header with nobody to trust would let anyone who can reach aims name themselves."""
    if settings.trusted_email_header and not settings.trusted_proxies:
        raise SettingsError(
            "AIMS_TRUSTED_EMAIL_HEADER is set but AIMS_TRUSTED_PROXIES is not: list the proxy's addresses "
            "(the header is honoured only from them)"
        )


def _smtp(url: str | None, *, public_url: str) -> SmtpSettings | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError("AIMS_SMTP_URL must look like smtp://user:password@host:587?starttls=1 (or smtps://host)")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    implicit_tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if implicit_tls else 587)
    except ValueError:
        raise SettingsError("AIMS_SMTP_URL: the port is not a number") from None
    starttls = query.get("starttls", "1" if port == 587 else "0") in ("1", "true", "yes")
    password = unquote(parts.password) if parts.password else None
    if password is not None and password.strip().lower() in _PLACEHOLDERS:
        raise SettingsError("AIMS_SMTP_URL has a placeholder password")
    host = urlsplit(public_url).hostname or "localhost"
    sender = os.environ.get("AIMS_EMAIL_FROM") or f"aims <aims@{host}>"
    if "@" not in sender:
        raise SettingsError("AIMS_EMAIL_FROM must be an e-mail address, e.g. 'aims <aims@example.com>'")
    return SmtpSettings(
        host=parts.hostname, port=port, sender=sender, username=unquote(parts.username) if parts.username else None,
        password=password, starttls=starttls and not implicit_tls, implicit_tls=implicit_tls,
        governance=os.environ.get("AIMS_EMAIL_GOVERNANCE") or None,
    )  # fmt: skip


def _count(name: str, value: str, lowest: int, highest: int) -> int:
    try:
        count = int(value)
    except ValueError:
        count = lowest - 1
    if not lowest <= count <= highest:
        raise SettingsError(f"{name}: {value!r} is not a whole number from {lowest} to {highest}")
    return count


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


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
