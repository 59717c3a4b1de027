"""Notifications to complainants and reporters (SMS in production). ``Sender`` is the interface;
the default ``LoggingSender`` writes a log line with the number masked. A gateway adapter (e.g. an
SMS provider's SDK) implements ``send`` and is chosen by ``GONGZHI_NOTIFY_SENDER``."""

from __future__ import annotations

from typing import Protocol

import structlog

from portal.privacy import mask_phone
from portal.settings import Settings

log = structlog.get_logger("gongzhi.notify")


class Sender(Protocol):
    async def send(self, *, phone: str, message: str, reference: str) -> None:
        """Deliver ``message``; ``reference`` is stable per notification (dedupe at the gateway)."""


class LoggingSender:
    sent: list[dict[str, str]] = []  # the last messages, for operators in development

    async def send(self, *, phone: str, message: str, reference: str) -> None:
        log.info("notification", to=mask_phone(phone), message=message, reference=reference)
        LoggingSender.sent.append({"phone": phone, "message": message, "reference": reference})
        del LoggingSender.sent[:-100]


def get_sender(settings: Settings) -> Sender:
    if settings.notify_sender == "logging":
        return LoggingSender()
    raise ValueError(f"unknown notify sender {settings.notify_sender!r}")
