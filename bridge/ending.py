"""How a call ends, as one explicit state machine.

An interview ends in one of four ways: the model calls end_interview and says its
closing line, the time limit is reached, the model cannot be reached any more, or the
caller hangs up. Each way must let the goodbye play out when there is one, and every
way must end the call. The machine is pure: its transitions return what the session
should do, and the session does it.

    LIVE -> WRAPPING_UP                  (the wrap-up note went to the model)
    LIVE | WRAPPING_UP -> GOODBYE_REQUESTED   (time up, or end_interview without words)
    ... -> GOODBYE_PLAYING               (the goodbye is generated; waiting for its mark)
    ... -> HANGING_UP                    (the goodbye was heard, timed out, or a failure)
    any -> ENDED                         (the media stream is gone)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evaluation.report import Completion
from evaluation.tools import EndInterview

TIME_UP_PROMPT = "Time is up. Say exactly this closing line and nothing else"
CLOSING_PROMPT = "Say exactly this closing line and nothing else"


class Phase(enum.Enum):
    LIVE = "live"
    WRAPPING_UP = "wrapping_up"
    GOODBYE_REQUESTED = "goodbye_requested"
    GOODBYE_PLAYING = "goodbye_playing"
    HANGING_UP = "hanging_up"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class RequestGoodbye:
    """Ask the model for a response that says the closing line after `prompt`."""

    prompt: str


@dataclass(frozen=True, slots=True)
class PlayGoodbye:
    """The goodbye is out: send the end-of-call mark and wait for Twilio to echo it."""


@dataclass(frozen=True, slots=True)
class CutReply:
    """Stop the reply being spoken first; the goodbye follows once it is done."""


@dataclass(frozen=True, slots=True)
class HangUp:
    say: str | None = None


Action = RequestGoodbye | PlayGoodbye | CutReply | HangUp


class EndOfCall:
    def __init__(self) -> None:
        self.phase = Phase.LIVE
        self.completion: Completion | None = None
        self.reason: str | None = None
        self.request: EndInterview | None = None
        self._goodbye_id: str | None = None
        self._awaiting_goodbye = False  # the next response created is the goodbye
        self._after_cut: str | None = None  # prompt to ask once the cut reply is done
        self._prompt = CLOSING_PROMPT  # the goodbye last asked for

    @property
    def listening(self) -> bool:
        """The outcome is open: the caller is heard and tool calls get replies."""
        return self.completion is None

    @property
    def hung_up(self) -> bool:
        return self.phase in (Phase.HANGING_UP, Phase.ENDED)

    def _decide(self, completion: Completion, reason: str) -> None:
        if self.completion is None:
            self.completion, self.reason = completion, reason

    def _request(self, prompt: str) -> RequestGoodbye:
        self.phase = Phase.GOODBYE_REQUESTED
        self._awaiting_goodbye, self._goodbye_id, self._prompt = True, None, prompt
        return RequestGoodbye(prompt)

    def wrap_up(self) -> bool:
        """Time to tell the model to wrap up; false if the call is already closing."""
        if self.phase is not Phase.LIVE or not self.listening:
            return False
        self.phase = Phase.WRAPPING_UP
        return True

    def time_up(self, replying: bool) -> Action | None:
        if not self.listening or self.phase in (Phase.GOODBYE_PLAYING, Phase.HANGING_UP):
            return None
        self._decide("timed_out", "time limit reached")
        if replying:
            # The API refuses a new response while one is active: ask once it is done.
            self.phase = Phase.GOODBYE_REQUESTED
            self._after_cut = TIME_UP_PROMPT
            return CutReply()
        return self._request(TIME_UP_PROMPT)

    def end_requested(self, request: EndInterview) -> None:
        self.request = request

    def response_created(self, response_id: str) -> None:
        if self._awaiting_goodbye:
            self._awaiting_goodbye = False
            self._goodbye_id = response_id

    def response_done(self, response_id: str, spoke: bool) -> Action | None:
        """A response ended; `spoke` says whether any of its audio went to the caller."""
        if self.hung_up:
            return None
        if self._after_cut is not None:
            prompt, self._after_cut = self._after_cut, None
            return self._request(prompt)
        if self._goodbye_id is not None:
            if response_id != self._goodbye_id:
                return None
            self.phase = Phase.GOODBYE_PLAYING
            return PlayGoodbye()
        if self.request is not None and self.phase is not Phase.GOODBYE_REQUESTED:
            if spoke:  # the response that called end_interview said the closing line
                self._goodbye_id = response_id
                self.phase = Phase.GOODBYE_PLAYING
                return PlayGoodbye()
            return self._request(CLOSING_PROMPT)
        return None

    def reopened(self) -> RequestGoodbye | None:
        """A new model session: a goodbye asked of the old one and never played is asked
        again (the old session, and whatever it was generating, is gone)."""
        if self.phase is not Phase.GOODBYE_REQUESTED:
            return None
        prompt = self._after_cut or self._prompt
        self._after_cut = None
        return self._request(prompt)

    @property
    def model_needed(self) -> bool:
        """Whether a lost model session must be reopened: not once the goodbye is out."""
        return self.phase not in (Phase.GOODBYE_PLAYING, Phase.HANGING_UP, Phase.ENDED)

    def end_mark_echoed(self) -> HangUp | None:
        """Twilio played everything before the end-of-call mark: the goodbye was heard."""
        return self.hang_up() if self.phase is Phase.GOODBYE_PLAYING else None

    def goodbye_timed_out(self) -> HangUp | None:
        return self.hang_up()

    def fail(self, reason: str, say: str) -> HangUp | None:
        self._decide("failed", reason)
        return self.hang_up(say)

    def hang_up(self, say: str | None = None) -> HangUp | None:
        if self.hung_up:
            return None
        end = self.request.reason if self.request else "completed"
        self._decide("completed", f"interview ended: {end}")
        self.phase = Phase.HANGING_UP
        return HangUp(say)

    def stream_ended(self, why: str) -> None:
        self._decide("candidate_hung_up", f"candidate hung up ({why})")
        self.phase = Phase.ENDED
