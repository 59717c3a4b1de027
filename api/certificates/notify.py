"""Who hears about overdue instruments: a pluggable sender. The portal has no SMS or e-mail
gateway of its own; ``LoggingSender`` writes each notification to the structured log, and a
deployment plugs in its gateway by naming a class in GONGZHI_OVERDUE_NOTIFICATION_SENDER
(``package.module:ClassName``, constructed with the settings)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

import structlog

from portal.settings import Settings

log = structlog.get_logger("gongzhi.notify")


@dataclass(frozen=True)
class Notification:
    recipient_kind: str  # "owner" or "regulator"
    recipient: str  # the owner's unified social credit code or name; the regulator's region code
    subject: str
    body: str
    reference: str  # a stable id (warning id, or region + day): gateways deduplicate on it


class NotificationSender(Protocol):
    async def send(self, notification: Notification) -> None: ...


class LoggingSender:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    async def send(self, notification: Notification) -> None:
        log.info(
            "notification",
            recipient_kind=notification.recipient_kind,
            recipient=notification.recipient,
            subject=notification.subject,
            body=notification.body,
            reference=notification.reference,
        )


def get_sender(settings: Settings) -> NotificationSender:
    name = settings.overdue_notification_sender
    if name in ("", "logging"):
        return LoggingSender(settings)
    module_name, _, class_name = name.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    sender: NotificationSender = cls(settings)
    return sender
