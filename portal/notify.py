"""Notifications to people outside the portal (SMS, e-mail, a province's messaging platform): one
interface for every domain.

The portal has no gateway of its own. ``LoggingNotifier`` (the default) writes one log line per
notification with the recipient masked by the same rule as everywhere else and keeps nothing in
memory. A deployment plugs in its gateway by naming a class, ``package.module:ClassName``,
constructed with the settings: ``GONGZHI_NOTIFY_SENDER`` for messages to complainants and
reporters, ``GONGZHI_OVERDUE_NOTIFICATION_SENDER`` for overdue-instrument warnings (an owner's
warnings may go through another gateway than a citizen's SMS).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from portal.privacy import mask_phone

log = structlog.get_logger("gongzhi.notify")

RecipientKind = Literal["phone", "owner", "regulator"]


@dataclass(frozen=True)
class Notification:
    recipient_kind: RecipientKind
    # a phone number; an owner's unified social credit code or name; a regulator's region code
    recipient: str
    subject: str
    body: str
    reference: str  # stable per notification: gateways deduplicate on it


class Notifier(Protocol):
    async def send(self, notification: Notification) -> None: ...


def masked_recipient(notification: Notification) -> str:
    """What a log line or an operator may see of the recipient: never a whole phone number."""
    if notification.recipient_kind == "phone":
        return mask_phone(notification.recipient)
    return notification.recipient


class LoggingNotifier:
    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    async def send(self, notification: Notification) -> None:
        log.info(
            "notification",
            recipient_kind=notification.recipient_kind,
            recipient=masked_recipient(notification),
            subject=notification.subject,
            body=notification.body,
            reference=notification.reference,
        )


def load_notifier(name: str, settings: Any) -> Notifier:
    """``"logging"`` (or empty) or ``package.module:ClassName``, constructed with ``settings``."""
    if name in ("", "logging"):
        return LoggingNotifier(settings)
    module_name, _, class_name = name.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"notifier {name!r}: expected 'package.module:ClassName'")
    notifier: Notifier = getattr(importlib.import_module(module_name), class_name)(settings)
    return notifier
