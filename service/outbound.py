"""Builds the outbound dialer from the settings: on when a caller ID (TWILIO_FROM_NUMBER),
Twilio's REST credentials and PUBLIC_URL (where Twilio calls back) are all set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from persistence.store import Store
from service.settings import Settings
from telephony.dialer.hours import Hours
from telephony.dialer.loop import DialerConfig, DialerLoop
from telephony.dialer.placing import CallCreator
from telephony.dialer.requests import OutboundRequests
from telephony.dialer.settle import Rules
from telephony.dialer.webhooks import DialerFace
from telephony.privacy import NumberHash
from telephony.twilio_rest import TwilioCalls


def outbound_requests(
    settings: Settings,
    open_store: Callable[[], Store | None],
    clock: Callable[[], datetime],
    hash_number: NumberHash,
) -> OutboundRequests:
    rules = Rules(hours=Hours.parse(settings.calling_hours))
    return OutboundRequests(open_store, clock, rules, hash_number)


def outbound_dialer(
    settings: Settings,
    open_store: Callable[[], Store | None],
    clock: Callable[[], datetime],
    has_room: Callable[[], bool],
    calls: TwilioCalls | None,
    prepare: Callable[[str], Awaitable[object]],
    hash_number: NumberHash,
) -> tuple[DialerLoop | None, DialerFace]:
    """`prepare` reads an outbound call's brief before its model session opens."""
    rules = Rules(hours=Hours.parse(settings.calling_hours))
    token, sid = settings.twilio_auth_token, settings.twilio_account_sid
    loop = None
    if (
        settings.twilio_from_number is not None
        and settings.public_url is not None
        and token is not None
        and sid is not None
    ):
        config = DialerConfig(
            from_number=settings.twilio_from_number,
            public_url=settings.public_url,
            cps=settings.twilio_cps,
            max_concurrent=settings.outbound_max_concurrent,
            max_call_seconds=settings.max_call_seconds,
            rules=rules,
            hash_number=hash_number,
        )
        creator = CallCreator(sid, token.reveal(), settings.twilio_api_url)
        loop = DialerLoop(open_store, creator, config, clock=clock, has_room=has_room)
    face = DialerFace(
        open_store=open_store,
        clock=clock,
        rules=rules,
        callback_number=settings.twilio_from_number,
        hang_up=calls.hang_up if calls is not None else None,
        wake=loop.wake if loop is not None else lambda: None,
        prepare=prepare,
    )
    return loop, face
