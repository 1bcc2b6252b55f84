"""What a call linked to a scheduled interview (placed by the dialer, or called in with
its code) says besides the questions: whom it speaks with, the opening and rules of an
outbound call, and the message left on a voicemail. An AI caller must say it is one and
how to reach back (FCC 24-17), and the candidate needs the code that links their call-in
to this interview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluation.templates import Template
from evaluation.tools import (
    CONFIRM_IDENTITY,
    END_INTERVIEW,
    OPT_OUT,
    OUTBOUND_TOOLS,
    RESCHEDULE_INTERVIEW,
    TOOLS,
)


def spoken_digits(digits: str) -> str:
    """Digits read one by one ("4 1 5"), so text-to-speech never reads a large number."""
    return " ".join(d for d in digits if d.isdigit())


def voicemail_message(template: Template, callback_number: str, code: str) -> str:
    intro = template.voicemail or (
        f"Hello, this is an automated AI interviewer calling from {template.company} about "
        f"the {template.role} role you applied for."
    )
    return (
        f"{intro} Please call us back at {spoken_digits(callback_number)} and enter your "
        f"interview code {spoken_digits(code)}. Again, your code is {spoken_digits(code)}. "
        "Thank you, goodbye."
    )


@dataclass(frozen=True, slots=True)
class OutboundCall:
    """What the interviewer knows when it places the call: whom it asks for, and the
    candidate's local time (so "tomorrow at three" can be booked)."""

    first_name: str | None
    local_now: str
    """e.g. "Wednesday 2026-06-10 10:02"."""
    timezone: str
    variables: tuple[tuple[str, str], ...] = ()
    """The interview's variables (role, team...), for the model to use where they help."""
    called_in: bool = False
    """The candidate called in with the interview's code: the model knows whom it speaks
    with, but the opening and the tools stay an inbound call's."""

    @property
    def placed(self) -> bool:
        """A call the dialer placed: the outbound opening, rules and tools apply."""
        return not self.called_in


def outbound_greeting(template: Template, call: OutboundCall) -> str:
    """Who is calling and why, that it is an AI and the call is transcribed, and whether
    the right person has time now: before any question (FCC 24-17, and plain manners)."""
    whom = f"May I speak with {call.first_name}? " if call.first_name else ""
    return (
        f"Hello! {whom}This is an AI interviewer calling from {template.company} about your "
        f"application for the {template.role} role. This call is transcribed. Is now a good "
        "time for a short interview?"
    )


def candidate_facts(call: OutboundCall) -> list[str]:
    """Whom the interview is with (the first name only) and the interview's variables."""
    lines = [""]
    if call.first_name:
        lines.append(f"The candidate's first name: {call.first_name}.")
    if call.variables:
        lines.append("About this interview (use where it helps; never read it out as a list):")
        lines += [f"- {key}: {value}" for key, value in call.variables]
    return lines if len(lines) > 1 else []


def outbound_rules(call: OutboundCall) -> list[str]:
    return [
        "",
        "This is an outbound call you placed. Until the candidate has confirmed who they "
        "are and that now is a good time, ask no interview question. When they have, call "
        f"{CONFIRM_IDENTITY} once, then ask the first question.",
        f"The candidate's local time now: {call.local_now} ({call.timezone}).",
        f"If they want another time, call {RESCHEDULE_INTERVIEW} with it, confirm aloud the "
        f'time its result gives, then call {END_INTERVIEW} with reason "candidate_requested".',
        f"If they ask not to be called again, call {OPT_OUT}, confirm they will not be "
        f'called again, then call {END_INTERVIEW} with reason "candidate_requested".',
        "If someone else answers, ask when the candidate can be reached and reschedule.",
    ]


def tools_for(call: OutboundCall | None) -> list[dict[str, Any]]:
    """The functions a call's model is given, whichever engine runs it: a placed call's
    add the outbound ones; every other call's (and its token cost) stay as they were."""
    return TOOLS + OUTBOUND_TOOLS if call is not None and call.placed else TOOLS
