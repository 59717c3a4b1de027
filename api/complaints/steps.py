"""One staff action being applied (workflow.py runs it, jurisdiction.py and workflow.py define the
actions): the case, who acts and when, the event it writes, and the helpers every action uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from api.complaints.errors import InvalidAction
from api.complaints.models import Case, CaseEvent, CaseKind, CaseStatus
from api.complaints.settings import ComplaintsSettings
from portal import workdays
from portal.accounts.models import User


@dataclass
class Step:
    """One action being applied: the case, who acts, when, and the event it writes."""

    case: Case
    actor: User
    config: ComplaintsSettings
    now: datetime
    today: date
    previous: CaseStatus
    event: CaseEvent


def require(condition: bool, message: str, message_zh: str) -> None:
    """422 case_action_invalid unless ``condition``: an action's own input is wrong."""
    if not condition:
        raise InvalidAction(message, detail_zh=message_zh)


def publish(step: Step, event_type: str, body: str | None) -> None:
    """The action's event goes on the submitter's timeline (and is sent to them)."""
    step.event.type, step.event.public, step.event.body = event_type, True, body


def restart_first_period(case: Case, today: date, config: ComplaintsSettings) -> None:
    """A case received again (reopened after rejection, transferred, dispatched, designated): a
    complaint's acceptance period, or a report's verification period, counts from today."""
    if case.kind is CaseKind.complaint:
        case.acceptance_due = workdays.add_working_days(
            today, config.complaint_acceptance_working_days
        )
    else:
        case.handling_due = workdays.add_working_days(
            today, config.report_verification_working_days
        )
