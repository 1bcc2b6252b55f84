"""The running cost of a live call, fed as responses complete.

Cost arithmetic must never cost the call anything else: a price or usage problem is
logged and the call goes on without that figure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from bridge.clock import Clock
from bridge.recorder import CallRecorder
from evaluation.cost import CallCost, Direction, NumberType
from evaluation.usage import ResponseUsage, TranscriptionUsage
from persistence.records import CostRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


class Meter:
    def __init__(
        self,
        cost: CallCost | None,
        recorder: CallRecorder,
        clock: Clock,
        alert_usd: Decimal,
        call_sid: str,
        streamed_s: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """`streamed_s()`: caller audio sent to the model so far, for streaming
        transcription billed by it."""
        self._cost = cost
        self._streamed_s = streamed_s
        self._recorder = recorder
        self._clock = clock
        self._alert_usd = alert_usd
        self._extra = {"call_sid": call_sid}

    def _guard(self, op: Callable[[CallCost], T]) -> T | None:
        if self._cost is None:
            return None
        try:
            return op(self._cost)
        except Exception as exc:
            log.error("cost could not be computed (%s)", exc, extra=self._extra)
            return None

    @property
    def cost(self) -> CallCost | None:
        """The call's cost meter, for an engine that takes the call over."""
        return self._cost

    def response(self, usage: ResponseUsage | None) -> None:
        """A response is done: count it, store the running total, warn once past the alert."""
        if self._cost is None:
            return
        self._guard(lambda cost: cost.add_response_usage(usage))
        self._counted()

    def text_response(self, usage: ResponseUsage | None) -> None:
        """A text model's response is done (the ConversationRelay engine)."""
        if self._cost is None:
            return
        self._guard(lambda cost: cost.add_text_usage(usage))
        self._counted()

    def _counted(self) -> None:
        self._guard(lambda cost: cost.set_audio_streamed(self._streamed_s()))
        total = self._guard(lambda cost: cost.running_total)
        if total is None:
            return
        self._recorder.running_cost(float(total), self._clock.wall())
        # The total is priced once per response; the meter prices it again only at the alert.
        if total > self._alert_usd and self._guard(lambda c: c.crossed_alert(self._alert_usd)):
            log.warning(
                "call cost passed the alert threshold of $%s", self._alert_usd, extra=self._extra
            )

    def transcription(self, usage: TranscriptionUsage | None) -> None:
        if usage is not None:
            self._guard(lambda cost: cost.add_transcription(usage))

    def final(
        self,
        duration_s: float,
        direction: Direction,
        number_type: NumberType,
        *,
        media_streams_s: float | None = None,
        relay_s: float | None = None,
    ) -> CostRecord | None:
        """The whole call's breakdown, Twilio's minutes included; `media_streams_s` and
        `relay_s` split the call between the engines when not all of it streamed audio."""
        self._guard(
            lambda cost: cost.set_telephony(
                duration_s, direction, number_type, media_streams_s=media_streams_s
            )
        )
        if relay_s is not None:
            self._guard(lambda cost: cost.set_relay(relay_s))
        self._guard(lambda cost: cost.set_audio_streamed(self._streamed_s()))
        return self._guard(lambda cost: CostRecord.model_validate(cost.breakdown().to_dict()))
