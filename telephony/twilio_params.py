"""The shape of every parameter Twilio sends to a webhook, checked before anything is done.

Twilio's signature joins names and values with no separator, so one signed request can
be re-split into others that verify too (`CallSid=<sid>CallStatusringing`, with
`CallStatus` dropped). A signature alone therefore does not make a request genuine: its
parameters must also have the exact shapes Twilio gives them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from evaluation.cost import Direction
from persistence import STATUS_RANK

CALL_SID: Final = re.compile(r"CA[0-9a-f]{32}")
ACCOUNT_SID: Final = re.compile(r"AC[0-9a-f]{32}")
STREAM_SID: Final = re.compile(r"MZ[0-9a-f]{32}")
# E.164, Twilio Client and SIP callers, and the words carriers use for a withheld number.
CALLER: Final = re.compile(
    r"\+[1-9]\d{1,14}|client:[\w.@-]{1,256}|sip:\S{1,256}"
    r"|(?i:anonymous|restricted|unknown|private|unavailable)"
)
DIRECTIONS: Final[dict[str, Direction]] = {
    "inbound": "inbound",
    "outbound-api": "outbound",
    "outbound-dial": "outbound",
}
CALL_STATUSES: Final = frozenset(STATUS_RANK)


# What Twilio sends on every voice and call-status webhook: a re-split that folds one of
# them into the parameter before it (`CallerZip=94612Directionoutbound-api`) drops it.
CALL_PARAMETERS: Final = ("CallSid", "AccountSid", "From", "To", "Direction", "CallStatus")


def problem(
    params: Mapping[str, str],
    *,
    account_sid: str | None,
    status_required: bool = False,
    required: tuple[str, ...] = (),
) -> str | None:
    """Why these cannot be Twilio's call parameters, or None. Never quotes a value."""
    if not CALL_SID.fullmatch(params.get("CallSid", "")):
        return "CallSid is not a call SID"
    account = params.get("AccountSid", "")
    if not ACCOUNT_SID.fullmatch(account):
        return "AccountSid is not an account SID"
    if account_sid is not None and account != account_sid:
        return "AccountSid is not this service's Twilio account"
    if "Direction" in params and params["Direction"] not in DIRECTIONS:
        return "Direction is not one Twilio sends"
    status = params.get("CallStatus")
    if (status is not None or status_required) and status not in CALL_STATUSES:
        return "CallStatus is not one Twilio sends"
    for name in ("From", "To"):
        if params.get(name) and not CALLER.fullmatch(params[name]):
            return f"{name} is not a phone number or caller Twilio sends"
    stream_sid = params.get("StreamSid")
    if stream_sid and not STREAM_SID.fullmatch(stream_sid):
        return "StreamSid is not a stream SID"
    for name in required:
        if not params.get(name):
            return f"{name} is missing"
    return None


def direction(params: Mapping[str, str]) -> Direction:
    return DIRECTIONS.get(params.get("Direction", "inbound"), "inbound")
