"""Whole outbound interviews through the dialer: the real server, the strict Twilio REST
peer playing the answering side through the real webhooks and media stream, the OpenAI
Realtime peer and MongoDB. The clock is fixed at 10:00 in New York."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from evaluation.templates import DEFAULT_TEMPLATE, template_to_dict
from persistence.api_records import InterviewRecord
from tests.support.api import CONSENT, add_keys
from tests.support.call_harness import ACCOUNT, Caller, Env, live_env
from tests.support.dialing import FROM_NUMBER, MovableClock, Phones
from tests.support.openai import CallTool, Say, Script
from tests.support.relay_harness import relay_env
from tests.support.telephony_fixtures import PUBLIC
from tests.support.waiting import RECHECK_S, eventually

pytestmark = pytest.mark.slow

NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York
PHONE = "+14155552671"
EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["problem solved"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)


class Dialed:
    def __init__(self, env: Env, phones: Phones, clock: MovableClock, auth: dict[str, str]):
        self.env, self.phones, self.clock, self.auth = env, phones, clock, auth

    @property
    def store(self) -> Any:
        return self.env.svc.store

    async def schedule(self, phone: str = PHONE, **extra: Any) -> str:
        body = {
            "candidate": {"name": "Ada Lovelace", "phone": phone, "timezone": "America/New_York"},
            "template_id": "default",
            "consent": CONSENT,
            **extra,
        }
        response = await self.env.svc.http.post("/api/v1/interviews", json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        interview_id: str = response.json()["id"]
        return interview_id

    async def interview(self, interview_id: str) -> InterviewRecord:
        found = await self.store.interviews.get(interview_id)
        assert found is not None
        return found  # type: ignore[no-any-return]

    async def until(self, interview_id: str, what: str, check: Any) -> InterviewRecord:
        async def ready() -> InterviewRecord | None:
            record = await self.interview(interview_id)
            return record if check(record) else None

        found = await eventually(
            ready, timeout=20, what=what, every=RECHECK_S, context=self.env.protocol_errors
        )
        assert found is not None
        return found

    async def slots_freed(self) -> None:
        async def free() -> bool:
            return await self.store.dialing.slots_held(self.clock()) == 0  # type: ignore[no-any-return]

        await eventually(free, timeout=20, what="every outbound slot freed", every=RECHECK_S)

    async def settled(self, interview_id: str, attempts: int) -> InterviewRecord:
        return await self.until(
            interview_id,
            f"attempt {attempts} settled",
            lambda r: (
                len(r.attempts) >= attempts
                and r.attempts[attempts - 1].outcome
                and r.status != "in_progress"
            ),
        )


def in_calling_hours(record: InterviewRecord) -> None:
    for attempt in record.attempts:
        assert attempt.started_at is not None
        local = attempt.started_at.astimezone(NEW_YORK).time()
        assert time(8) <= local < time(21), attempt


async def dialed(
    mongo_uri: str, db_name: str, script: Script, **overrides: Any
) -> AsyncIterator[Dialed]:
    clock = MovableClock(START)
    async with live_env(
        mongo_uri,
        db_name,
        script,
        clock=clock,
        twilio_from_number=FROM_NUMBER,
        twilio_cps=10,
        **overrides,
    ) as env:
        phones = Phones(env.svc, env.rest, env.calls)
        phones.install()
        keys = await add_keys(env.svc.store)
        try:
            yield Dialed(env, phones, clock, {"Authorization": f"Bearer {keys['recruiter']}"})
        finally:
            await phones.close()
        assert phones.errors == []
        assert env.rest.errors == []


@pytest.fixture
async def person(mongo_uri: str, db_name: str) -> AsyncIterator[Dialed]:
    script = Script(
        responses=[
            Say("Hello, this is an AI interviewer. Is now a good time?", audio_ms=600),
            CallTool("evaluate_candidate_answer", EVALUATION),
            [
                Say("Thank you, that is all. Goodbye.", audio_ms=500),
                CallTool("end_interview", json.dumps({"reason": "completed"})),
            ],
        ],
        caller_transcripts=["Yes, I built a billing service."],
    )
    async for d in dialed(mongo_uri, db_name, script):
        yield d


@pytest.fixture
async def quiet(mongo_uri: str, db_name: str) -> AsyncIterator[Dialed]:
    script = Script(responses=[Say("Hello, this is an AI interviewer calling.", audio_ms=400)])
    async for d in dialed(mongo_uri, db_name, script):
        yield d


async def test_a_person_answers_and_completes_the_interview(person: Dialed) -> None:
    d = person
    d.phones.behaviour[PHONE] = "person"
    interview_id = await d.schedule()
    await d.env.wait(lambda: any(line.caller for line in d.phones.lines.values()), "an answer")
    (line,) = d.phones.lines.values()
    assert line.twilio is not None and line.caller is not None
    await d.env.wait_played(line.twilio, 1)
    line.caller.say()
    record = await d.until(
        interview_id, "the interview completed", lambda r: r.status == "completed"
    )
    await d.until(interview_id, "the attempt settled", lambda r: r.attempts[0].outcome)

    (created,) = d.env.rest.created
    assert created.one("To") == PHONE and created.one("From") == FROM_NUMBER
    assert created.one("MachineDetection") == "DetectMessageEnd"
    record = await d.interview(interview_id)
    (attempt,) = record.attempts
    assert attempt.call_sid == created.call_sid and attempt.outcome == "completed"
    assert record.result is not None and record.result.call_sid == created.call_sid
    in_calling_hours(record)
    call = await d.store.calls.get(created.call_sid)
    assert call.interview_id == interview_id and call.direction == "outbound"
    assert call.to_masked == "+*******2671" and call.completion == "completed"
    assert line.statuses[-1] == "completed"
    await d.slots_freed()


async def test_a_voicemail_gets_the_message_once_and_a_redial_the_next_day(quiet: Dialed) -> None:
    d = quiet
    d.phones.behaviour[PHONE] = "voicemail"
    interview_id = await d.schedule()
    record = await d.settled(interview_id, 1)
    (update,) = d.env.rest.updates
    (said,) = update.said
    code = " ".join(record.code)
    assert f"interview code {code}" in said and "AI interviewer" in said
    assert "1 4 1 5 5 5 5 0 1 0 0" in said  # the number to call back, digit by digit
    # A late duplicate verdict leaves no second message.
    (line,) = d.phones.lines.values()
    await d.phones.amd(line)
    assert len(d.env.rest.updates) == 1
    assert record.attempts[0].outcome == "voicemail" and record.status == "scheduled"
    # Thursday 09:00 in New York: the default window's start on the next local day.
    assert record.next_attempt_at == datetime(2026, 6, 11, 13, 0, tzinfo=UTC)
    amd = await d.store.dialing.amd(line.created.call_sid)
    assert amd is not None and amd["answered_by"] == "machine_end_beep"
    assert amd["detection_ms"] == 300 and amd["voicemail_at"] is not None
    in_calling_hours(record)

    # The next day's attempt is dialed once the clock gets there, and not before.
    assert len(d.env.rest.created) == 1
    d.clock.advance(timedelta(hours=23))
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    record = await d.settled(interview_id, 2)
    assert len(d.env.rest.created) == 2
    assert [a.outcome for a in record.attempts] == ["voicemail", "voicemail"]
    assert record.status == "failed"  # one voicemail is retried, the second is not
    in_calling_hours(record)


async def test_no_answer_is_redialed_after_30_then_60_minutes(quiet: Dialed) -> None:
    d = quiet
    interview_id = await d.schedule(max_attempts=5)
    record = await d.settled(interview_id, 1)
    ended = record.attempts[0].ended_at
    assert ended is not None and record.next_attempt_at is not None
    assert record.next_attempt_at - ended == timedelta(minutes=30)
    assert len(d.env.rest.created) == 1
    d.clock.advance(timedelta(minutes=31))
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    record = await d.settled(interview_id, 2)
    second = record.attempts[1]
    assert second.started_at is not None and second.started_at - ended >= timedelta(minutes=30)
    assert second.ended_at is not None and record.next_attempt_at is not None
    assert record.next_attempt_at - second.ended_at == timedelta(minutes=60)
    assert [a.outcome for a in record.attempts] == ["no-answer", "no-answer"]
    assert [c.one("To") for c in d.env.rest.created] == [PHONE, PHONE]
    in_calling_hours(record)
    events = await d.store.db["webhook_deliveries"].count_documents({})
    assert events == 0  # no endpoint subscribed: nothing queued, nothing sent


async def test_an_interviews_own_redial_delays_replace_the_defaults(quiet: Dialed) -> None:
    d = quiet
    redial = {"no_answer_minutes": [5, 7], "voicemail": "never"}
    interview_id = await d.schedule(max_attempts=5, redial=redial)
    record = await d.settled(interview_id, 1)
    ended = record.attempts[0].ended_at
    assert record.attempts[0].outcome == "no-answer"
    assert ended is not None and record.next_attempt_at is not None
    assert record.next_attempt_at - ended == timedelta(minutes=5)  # not the default 30
    d.clock.advance(timedelta(minutes=6))
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    record = await d.settled(interview_id, 2)
    second = record.attempts[1]
    assert second.ended_at is not None and record.next_attempt_at is not None
    assert record.next_attempt_at - second.ended_at == timedelta(minutes=7)
    in_calling_hours(record)


async def test_an_attempt_whose_callbacks_never_come_is_settled_by_asking_twilio(
    quiet: Dialed,
) -> None:
    d = quiet
    d.phones.behaviour[PHONE] = "unheard"
    interview_id = await d.schedule(max_attempts=3)
    record = await d.until(interview_id, "the call placed", lambda r: len(r.attempts) == 1)
    (created,) = d.env.rest.created
    attempt = record.attempts[0]
    assert record.status == "in_progress" and attempt.ends_by is not None
    assert attempt.started_at is not None
    # Ring, the template's time limit and a grace: Twilio is not asked before then.
    assert attempt.ends_by - attempt.started_at > timedelta(minutes=20)
    assert await d.store.calls.get(created.call_sid) is None  # not one callback came
    assert d.env.rest.fetched == []
    # Past that time Twilio is asked; a call it still reports live is asked about later.
    d.env.rest.reported[created.call_sid] = "in-progress"
    d.clock.advance(attempt.ends_by - attempt.started_at)
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    first_end = attempt.ends_by
    record = await d.until(
        interview_id,
        "asked again later",
        lambda r: r.attempts[0].ends_by is not None and r.attempts[0].ends_by > first_end,
    )
    assert d.env.rest.fetched == [created.call_sid] and record.status == "in_progress"
    d.env.rest.reported[created.call_sid] = "no-answer"
    d.clock.advance(timedelta(minutes=6))
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    record = await d.settled(interview_id, 1)
    assert d.env.rest.fetched == [created.call_sid] * 2
    assert record.attempts[0].outcome == "no-answer" and record.status == "scheduled"
    ended = record.attempts[0].ended_at
    assert ended is not None and record.next_attempt_at == ended + timedelta(minutes=30)
    call = await d.store.calls.get(created.call_sid)
    assert call.interview_id == interview_id and call.status == "no-answer"
    assert call.to_masked == "+*******2671"
    await d.slots_freed()


async def test_an_attempt_twilio_cannot_be_asked_about_settles_failed(quiet: Dialed) -> None:
    d = quiet
    d.phones.behaviour[PHONE] = "unheard"
    d.env.rest.fetch_fails_with = 503
    interview_id = await d.schedule(max_attempts=3)
    record = await d.until(interview_id, "the call placed", lambda r: len(r.attempts) == 1)
    attempt = record.attempts[0]
    assert attempt.ends_by is not None and attempt.started_at is not None
    d.clock.advance(attempt.ends_by - attempt.started_at)
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    record = await d.settled(interview_id, 1)
    assert record.attempts[0].outcome == "failed" and record.status == "scheduled"
    ended = record.attempts[0].ended_at
    assert ended is not None and record.next_attempt_at == ended + timedelta(minutes=10)
    raw = await d.store.db["interviews"].find_one({"_id": interview_id})
    error = raw["attempts"][0]["error"]
    assert error["http_status"] == 503 and "No status callbacks came" in error["message"]
    assert "Twilio could not be asked" in error["message"]
    await d.slots_freed()


async def test_busy_and_failed_calls_settle_with_their_outcome(quiet: Dialed) -> None:
    d = quiet
    d.phones.behaviour["+14155550122"] = "busy"
    d.phones.behaviour["+14155550133"] = "failed"
    busy = await d.schedule("+14155550122")
    failed = await d.schedule("+14155550133")
    busy_record = await d.settled(busy, 1)
    failed_record = await d.settled(failed, 1)
    assert busy_record.attempts[0].outcome == "busy"
    assert failed_record.attempts[0].outcome == "failed"
    ended = failed_record.attempts[0].ended_at
    assert failed_record.next_attempt_at is not None and ended is not None
    assert failed_record.next_attempt_at - ended == timedelta(minutes=10)


async def test_a_refused_creation_settles_failed_with_twilios_code(quiet: Dialed) -> None:
    d = quiet
    refused = "+14155550144"
    d.env.rest.refuse_to[refused] = (21215, f"Geo permission not enabled for {refused}")
    interview_id = await d.schedule(refused, max_attempts=2)
    record = await d.until(interview_id, "the refusal recorded", lambda r: len(r.attempts) == 1)
    raw = await d.store.db["interviews"].find_one({"_id": interview_id})
    error = raw["attempts"][0]["error"]
    assert error["code"] == 21215 and error["http_status"] == 400
    assert refused not in error["message"] and "0144" in error["message"]
    assert record.attempts[0].outcome == "failed" and record.status == "scheduled"
    assert record.next_attempt_at is not None and record.attempts[0].ended_at is not None
    assert record.next_attempt_at - record.attempts[0].ended_at == timedelta(minutes=10)
    assert d.env.rest.created == []
    d.env.rest.errors.clear()


def test_start_is_inside_calling_hours() -> None:
    assert time(8) <= START.astimezone(NEW_YORK).time() < time(21)


def tool_outputs(env: Env) -> list[str]:
    conn = env.model.connections[-1]
    return [
        e["item"]["output"]
        for e in conn.client_events("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]


async def answered(d: Dialed) -> None:
    await d.env.wait(lambda: any(line.caller for line in d.phones.lines.values()), "an answer")
    (line,) = d.phones.lines.values()
    assert line.twilio is not None and line.caller is not None
    await d.env.wait_played(line.twilio, 1)
    line.caller.say()


def asking(tool: CallTool, goodbye: str, heard: str) -> Script:
    """The greeting; the candidate's answer, met with `tool`; a goodbye that ends the call."""
    return Script(
        responses=[
            Say("Hello! May I speak with Ada? Is now a good time?", audio_ms=500),
            tool,
            [
                Say(goodbye, audio_ms=400),
                CallTool("end_interview", json.dumps({"reason": "candidate_requested"})),
            ],
        ],
        caller_transcripts=[heard],
    )


@pytest.fixture
async def rescheduling(mongo_uri: str, db_name: str) -> AsyncIterator[Dialed]:
    script = asking(
        CallTool("reschedule_interview", json.dumps({"local_time": "2026-06-11T07:00"})),
        "You are booked for tomorrow at nine. Goodbye.",
        "Not now, call me tomorrow at seven.",
    )
    async for d in dialed(mongo_uri, db_name, script):
        yield d


async def test_a_reschedule_asked_by_voice_lands_in_the_window(rescheduling: Dialed) -> None:
    d = rescheduling
    d.phones.behaviour[PHONE] = "person"
    interview_id = await d.schedule(variables={"team": "Payments"})
    await answered(d)
    record = await d.settled(interview_id, 1)
    assert record.attempts[0].outcome == "rescheduled" and record.status == "scheduled"
    # 07:00 is before the window: the nearest time is 09:00 that day, in New York.
    assert record.next_attempt_at == datetime(2026, 6, 11, 13, 0, tzinfo=UTC)
    booked, ended = tool_outputs(d.env)
    assert "closing line" in ended
    assert "Booked for Thursday 2026-06-11 09:00" in booked and "nearest" in booked
    update = d.env.model.connections[0].client_events("session.update")[0]["session"]
    assert {t["name"] for t in update["tools"]} >= {"reschedule_interview", "opt_out"}
    instructions = update["instructions"]
    assert "May I speak with Ada?" in instructions and "AI interviewer" in instructions
    assert "transcribed" in instructions and "Wednesday 2026-06-10 10:0" in instructions
    assert "Lovelace" not in instructions and "- team: Payments" in instructions
    in_calling_hours(record)


@pytest.fixture
async def confirming(mongo_uri: str, db_name: str) -> AsyncIterator[Dialed]:
    script = Script(
        responses=[
            Say("Hello! May I speak with Ada? Is now a good time?", audio_ms=500),
            CallTool("confirm_identity", "{}"),
            Say("Great. Tell me about a system you built.", audio_ms=400),
        ],
        caller_transcripts=["Yes, this is Ada, now is fine."],
    )
    async for d in dialed(mongo_uri, db_name, script):
        yield d


async def test_a_machine_verdict_after_the_confirmation_is_ignored(confirming: Dialed) -> None:
    d = confirming
    d.phones.behaviour[PHONE] = "person"
    interview_id = await d.schedule()
    await answered(d)
    await d.env.wait(lambda: any("Confirmed" in o for o in tool_outputs(d.env)), "confirmed")
    (line,) = d.phones.lines.values()
    call_sid = line.created.call_sid
    assert line.twilio is not None
    await d.env.wait_played(line.twilio, 2)  # the interview went on past the confirmation
    await d.phones.amd(line, "machine_end_beep")
    amd = await d.store.dialing.amd(call_sid)
    assert amd is not None and amd["answered_by"] == "machine_end_beep"
    assert "confirmed" in amd["ignored"] and amd.get("voicemail_at") is None
    assert d.env.rest.updates == [] and "completed" not in line.statuses  # not hung up
    confirmed = await d.store.dialing.confirmed_at(call_sid)
    record = await d.interview(interview_id)
    assert confirmed is not None and record.attempts[0].confirmed_at == confirmed
    update = d.env.model.connections[0].client_events("session.update")[0]["session"]
    assert "confirm_identity" in {t["name"] for t in update["tools"]}
    assert "confirm_identity once, then ask the first question" in update["instructions"]
    got = await d.env.svc.http.get(f"/api/v1/interviews/{interview_id}", headers=d.auth)
    assert got.json()["attempts"][0]["confirmed_at"] is not None
    await d.phones.candidate_hangs_up(call_sid)
    await d.settled(interview_id, 1)


async def test_a_machine_verdict_before_the_confirmation_leaves_the_voicemail(
    confirming: Dialed,
) -> None:
    d = confirming
    d.phones.behaviour[PHONE] = "person"
    interview_id = await d.schedule()
    await d.env.wait(lambda: any(line.caller for line in d.phones.lines.values()), "an answer")
    (line,) = d.phones.lines.values()
    assert line.twilio is not None
    await d.env.wait_played(line.twilio, 1)  # the greeting played to a machine
    await d.phones.amd(line, "machine_end_silence")
    record = await d.settled(interview_id, 1)
    (update,) = d.env.rest.updates
    assert any("interview code" in said for said in update.said)
    assert record.attempts[0].outcome == "voicemail" and record.attempts[0].confirmed_at is None
    amd = await d.store.dialing.amd(line.created.call_sid)
    assert amd is not None and amd["voicemail_at"] is not None and "ignored" not in amd
    assert tool_outputs(d.env) == []  # the model never confirmed anyone


async def test_a_machine_verdict_after_an_answer_is_ignored_even_unconfirmed(
    person: Dialed,
) -> None:
    """A backstop: a model that went on without confirming has a person answering."""
    d = person
    d.phones.behaviour[PHONE] = "person"
    interview_id = await d.schedule()
    await answered(d)
    (line,) = d.phones.lines.values()
    call_sid = line.created.call_sid

    async def evaluated() -> bool:
        return bool(await d.store.evaluations.for_call(call_sid))

    await eventually(evaluated, timeout=20, what="an answer evaluated", every=RECHECK_S)
    await d.phones.amd(line, "machine_end_other")
    amd = await d.store.dialing.amd(call_sid)
    assert amd is not None and amd["ignored"] == "the candidate had already answered"
    assert amd.get("voicemail_at") is None
    assert not any("interview code" in said for u in d.env.rest.updates for said in u.said)
    record = await d.until(interview_id, "completed", lambda r: r.status == "completed")
    assert record.attempts[0].confirmed_at is None


@pytest.fixture
async def opting_out(mongo_uri: str, db_name: str) -> AsyncIterator[Dialed]:
    script = asking(
        CallTool("opt_out", "{}"),
        "Understood, we will not call again. Goodbye.",
        "Please do not call me again.",
    )
    async for d in dialed(mongo_uri, db_name, script):
        yield d


async def test_an_opt_out_stops_every_future_call(opting_out: Dialed) -> None:
    d = opting_out
    d.phones.behaviour[PHONE] = "person"
    interview_id = await d.schedule()
    later = await d.schedule(not_before="2026-06-12T14:00:00Z")
    await answered(d)
    record = await d.until(interview_id, "the interview closed", lambda r: r.status == "canceled")
    record = await d.until(interview_id, "the attempt settled", lambda r: r.attempts[0].outcome)
    assert record.attempts[0].outcome == "opted_out"
    assert (await d.interview(later)).status == "canceled"
    stored = [doc async for doc in d.store.db["do_not_call"].find({})]
    assert len(stored) == 1 and PHONE not in json.dumps(stored, default=str)
    # Keyed: not the plain hash a copy of the database could test numbers against.
    assert stored[0]["_id"] != hashlib.sha256(f"do-not-call:{PHONE}".encode()).hexdigest()
    assert stored[0]["_id"] == d.env.svc.services.number_hash(PHONE)
    again = await d.env.svc.http.post(
        "/api/v1/interviews",
        json={
            "candidate": {"name": "Ada", "phone": "(415) 555-2671"},
            "consent": CONSENT,
            "template_id": "default",
        },
        headers=d.auth,
    )
    assert again.status_code == 409, again.text
    assert "asked not to be called" in again.json()["detail"]
    # Nothing more is dialed, even when the later interview's day comes.
    d.clock.advance(timedelta(days=2))
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    await d.slots_freed()
    assert len(d.env.rest.created) == 1


async def call_in_with_code(d: Dialed, answers: list[dict[str, str]]) -> tuple[str, str]:
    """A candidate calls the line: each answer goes to the Gather's action in turn; the
    last TwiML and the CallSid are returned."""
    call_sid = "CA" + "c" * 32
    form = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": PHONE,
        "To": FROM_NUMBER,
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    response = await d.env.svc.post_twilio("/twilio/voice", form)
    assert response.status_code == 200, response.text
    twiml = response.text
    for answer in answers:
        gather = ET.fromstring(twiml).find("./Gather")
        assert gather is not None, twiml
        assert gather.attrib["input"] == "dtmf speech" and gather.attrib["numDigits"] == "6"
        url = gather.attrib["action"]
        reply = await d.env.svc.post_twilio(
            url[len(PUBLIC) :], {**form, "CallStatus": "in-progress", **answer}, signed_url=url
        )
        assert reply.status_code == 200, reply.text
        twiml = reply.text
    return call_sid, twiml


async def code_template(d: Dialed) -> None:
    body = template_to_dict(DEFAULT_TEMPLATE.model_copy(update={"template_id": "screen"}))
    await d.store.templates.save("screen", {**body, "require_code": True}, d.clock(), [FROM_NUMBER])


async def test_a_candidate_calling_in_gives_the_code_and_the_call_links(person: Dialed) -> None:
    d = person
    await code_template(d)
    interview_id = await d.schedule(
        template_id="screen",
        not_before="2026-06-20T14:00:00Z",
        variables={"team": "Payments platform", "office": "Lisbon"},
    )
    code = (await d.interview(interview_id)).code
    spoken = " ".join(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][int(c)]
        for c in code
    )
    call_sid, twiml = await call_in_with_code(d, [{"Digits": "12"}, {"SpeechResult": spoken + "."}])
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None, twiml
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.iter("Parameter")}
    assert params["template_id"] == "screen"
    call = await d.store.calls.get(call_sid)
    assert call.interview_id == interview_id and call.template_id == "screen"
    d.env.rest.live_calls.add(call_sid)
    twilio = d.env.svc.peer(call_sid, account_sid=ACCOUNT)
    twilio.custom_parameters = params
    await twilio.connect()
    d.env.calls[call_sid] = twilio
    await twilio.begin()
    caller = Caller(twilio)
    caller.start()
    await d.env.wait_played(twilio, 1)
    caller.say()
    record = await d.until(
        interview_id, "completed by the call-in", lambda r: r.status == "completed"
    )
    await caller.stop()
    assert [a.call_sid for a in record.attempts] == [call_sid]
    assert record.result is not None and record.result.call_sid == call_sid
    assert d.env.rest.created == []  # and, completed, it is never dialed
    # The model knew whom it spoke with: the first name (only) and the variables; the
    # opening and the tools stay an inbound call's.
    update = d.env.model.connections[0].client_events("session.update")[0]["session"]
    instructions = update["instructions"]
    assert "The candidate's first name: Ada." in instructions
    assert "- team: Payments platform" in instructions and "- office: Lisbon" in instructions
    assert "Lovelace" not in instructions and "May I speak with" not in instructions
    assert DEFAULT_TEMPLATE.greeting in instructions
    assert {t["name"] for t in update["tools"]} == {"evaluate_candidate_answer", "end_interview"}


async def test_three_wrong_codes_end_the_call(quiet: Dialed) -> None:
    d = quiet
    await code_template(d)
    wrong = [{"Digits": "000000"}, {"SpeechResult": "I don't know"}, {"Digits": ""}]
    _, twiml = await call_in_with_code(d, wrong)
    said = [el.text for el in ET.fromstring(twiml).iter("Say")]
    assert said and "could not find your interview" in (said[0] or "")
    assert ET.fromstring(twiml).find("./Hangup") is not None


QUIET = Script(responses=[Say("Hello, this is an AI interviewer calling.", audio_ms=400)])


async def test_a_due_attempt_outside_calling_hours_waits_for_them(
    mongo_uri: str, db_name: str
) -> None:
    noon = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York
    async for d in dialed(mongo_uri, db_name, QUIET, calling_hours=("12:00", "13:00")):
        interview_id = await d.schedule()
        await d.until(interview_id, "moved to noon", lambda r: r.next_attempt_at == noon)
        assert d.env.rest.created == []
        d.clock.advance(timedelta(hours=2))
        d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
        record = await d.settled(interview_id, 1)
        started = record.attempts[0].started_at
        assert started is not None and started >= noon
        assert time(12) <= started.astimezone(NEW_YORK).time() < time(13)


async def test_an_interview_past_its_expiry_is_expired_not_dialed(quiet: Dialed) -> None:
    d = quiet
    interview_id = await d.schedule(expires_at="2026-06-10T16:00:00Z")
    await d.settled(interview_id, 1)  # dialed once, no answer, redial planned
    d.clock.advance(timedelta(hours=3))
    d.env.svc.services.dialer.wake()  # type: ignore[union-attr]
    record = await d.until(interview_id, "expired", lambda r: r.status == "expired")
    assert len(record.attempts) == 1 and len(d.env.rest.created) == 1


async def test_an_outbound_call_on_the_relay_engine_gets_the_brief_and_tools(
    mongo_uri: str, db_name: str
) -> None:
    text = Script(
        responses=[
            CallTool("confirm_identity", "{}"),
            Say("Great. Tell me about a system you built."),
            [
                Say("Thank you, that is all. Goodbye."),
                CallTool("end_interview", json.dumps({"reason": "completed"})),
            ],
        ]
    )
    clock = MovableClock(START)
    async with relay_env(
        mongo_uri,
        db_name,
        text,
        clock=clock,
        twilio_from_number=FROM_NUMBER,
        twilio_cps=10,
        interview_engine="relay",
    ) as renv:
        phones = Phones(renv.env.svc, renv.env.rest, renv.env.calls)
        phones.install()
        phones.on_relay = lambda line, twiml: renv.join(line.created.call_sid, twiml)
        keys = await add_keys(renv.env.svc.store)
        d = Dialed(
            renv.env, phones, MovableClock(START), {"Authorization": f"Bearer {keys['recruiter']}"}
        )
        try:
            d.phones.behaviour[PHONE] = "person"
            interview_id = await d.schedule(variables={"team": "Payments"})
            await renv.wait(lambda: bool(renv.relays), "the relay socket joined")
            (call_sid,) = renv.relays
            peer = renv.relays[call_sid]
            await renv.answer(peer, "Yes, this is Ada. Now is fine.")
            await renv.answer(peer, "I built a billing service.")
            await renv.wait(lambda: peer.ended is not None, "the relay session ended")
            record = await d.settled(interview_id, 1)
            turns = await renv.env.turns(call_sid)
            confirmed = await d.store.dialing.confirmed_at(call_sid)
        finally:
            await phones.close()

    assert renv.text.errors == [] and peer.errors == [] and renv.env.rest.errors == []
    assert phones.errors == [] and renv.env.model.connections == []  # never the Realtime API
    first = renv.text.requests[0]
    instructions = first["instructions"]
    assert "May I speak with Ada?" in instructions and "AI interviewer" in instructions
    assert "transcribed" in instructions and "Wednesday 2026-06-10 10:0" in instructions
    assert "- team: Payments" in instructions and "Lovelace" not in instructions
    assert "confirm_identity once, then ask the first question" in instructions
    names = {t["name"] for t in first["tools"]}
    assert names >= {"confirm_identity", "reschedule_interview", "opt_out", "end_interview"}
    # The welcome greeting Twilio spoke was the outbound opening.
    turn = turns[0]
    assert turn.speaker == "assistant" and "May I speak with Ada?" in turn.text
    # The tool was answered by the dialer, not refused as on an inbound call.
    outputs = [
        item["output"]
        for item in renv.text.requests[1]["input"]
        if item.get("type") == "function_call_output"
    ]
    assert any("Confirmed" in o for o in outputs), outputs
    assert confirmed is not None
    assert record.attempts[0].outcome == "completed" and record.status == "completed"
