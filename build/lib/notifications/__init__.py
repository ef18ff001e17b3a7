"""Notification channels: one package each (slack/; email/), implementing activities.channels.Channel."""
