"""How a person hears from aims: the notification channels they listen on (every channel the
organisation configures, unless they mute it; the inbox always), and whether notices come one
by one or in one daily digest."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aims.domain.state import Model

ChannelName = Literal["slack", "email"]
CHANNEL_LABELS: dict[str, str] = {"slack": "Slack direct messages", "email": "E-mail"}


class NotificationSettings(Model):
    muted_channels: list[ChannelName] = Field(
        default_factory=list, max_length=len(CHANNEL_LABELS), description="channels you do not want notices on"
    )
    daily_digest: bool = Field(False, description="notices wait for one message a day instead of arriving one by one")
