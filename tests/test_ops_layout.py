"""The call page's layout without a server: evaluations beside the answers they judge, the
scorecard, the timeline's order, and the charts' SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evaluation.report import build_report
from evaluation.templates import DEFAULT_TEMPLATE
from evaluation.tools import EvaluateAnswer
from persistence.records import CallRecord, Evaluation, StatusEvent, Turn
from telephony.ops.call_layout import scorecard, timeline, transcript
from telephony.ops.charts import bar_chart

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def turn(seq: int, speaker: str, text: str, said_at: float) -> Turn:
    return Turn.model_validate(
        {"call_sid": "CA1", "seq": seq, "speaker": speaker, "text": text, "created_at": at(said_at)}
    )


def evaluation(index: int, stored_at: float) -> Evaluation:
    return Evaluation(
        call_sid="CA1",
        question_index=index,
        answer_quality="good",
        key_points_covered=["measure first"],
        next_action="move_to_next_topic",
        follow_up_needed=False,
        created_at=at(stored_at),
    )


def test_an_evaluation_sits_beside_the_answer_even_when_its_transcript_came_late() -> None:
    turns = [
        turn(0, "assistant", "Tell me about a project.", 3),
        turn(1, "caller", "I built a billing service.", 9),
        turn(2, "assistant", "How do you debug a slow API?", 12),
        # Transcribed after the evaluation was stored and the next reply had begun.
        turn(3, "caller", "I measure first.", 21),
        turn(4, "assistant", "Thank you. Goodbye.", 22),
    ]
    lines = transcript(turns, [evaluation(0, 10), evaluation(1, 19)], start=T0)
    assert [len(line.evaluations) for line in lines] == [0, 1, 0, 1, 0]
    assert [line.offset_s for line in lines] == [3, 9, 12, 21, 22]


def test_the_scorecard_quotes_the_answers_and_leaves_the_decision_to_a_person() -> None:
    turns = [turn(0, "assistant", "Q1", 1), turn(1, "caller", "I measure first.", 5)]
    lines = transcript(turns, [evaluation(1, 6)], start=T0)
    args = EvaluateAnswer.model_validate(
        {
            "question_index": 1,
            "answer_quality": "good",
            "key_points_covered": ["measure first"],
            "next_action": "move_to_next_topic",
            "follow_up_needed": False,
        }
    )
    report = build_report(
        DEFAULT_TEMPLATE,
        [(1, args)],
        completion="completed",
        interruptions=0,
        reconnects=0,
        duration_s=60,
    )
    card = scorecard(report, lines)
    row = card.rows[1]
    assert [(e.seq, e.quote) for e in row.evidence] == [(1, "I measure first.")]
    assert "measure first" in row.covered and row.missing
    assert card.recommendation == "decline"  # one question of four answered
    assert any(c.startswith("Question 1: not answered") for c in card.concerns)
    assert any(s.startswith("Question 2: covered measure first") for s in card.strengths)


def test_the_timeline_is_in_time_order() -> None:
    call = CallRecord(
        call_sid="CA1",
        direction="inbound",
        from_masked="+*******0123",
        to_masked="+*******0100",
        template_id="default",
        status="completed",
        created_at=T0,
        updated_at=T0,
        status_history=[StatusEvent(status="completed", at=at(60), duration_s=60)],
        timings={"stream_started": at(2), "ended": at(59)},
    )
    assert timeline(call) == [
        (T0, "created"),
        (at(2), "stream started"),
        (at(59), "ended"),
        (at(60), "completed (60 s)"),
    ]


def test_a_chart_draws_a_bar_per_value_and_its_marks() -> None:
    svg = bar_chart("Latency", [("#1", 100.0), ("#3", None), ("#5", 300.0)], marks=[("p50", 200)])
    assert svg.count("<rect") == 2 and "p50 200" in svg and "<title>Latency</title>" in svg
    assert bar_chart("<x>", []).count("&lt;x&gt;") == 2  # labels escaped
