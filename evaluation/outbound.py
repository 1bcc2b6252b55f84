"""What an outbound interview call says besides the interview: the message left on a
voicemail. An AI caller must say it is one and how to reach back (FCC 24-17), and the
candidate needs the code that links their call-in to this interview."""

from __future__ import annotations

from evaluation.templates import Template


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
