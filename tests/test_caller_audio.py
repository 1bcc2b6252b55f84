"""The caller's recent audio, kept for a replay after the model connection drops."""

from __future__ import annotations

import gc

from bridge.caller_audio import CallerAudio, Chunk


def feed(audio: CallerAudio, n: int, ms: float = 20.0) -> None:
    """`n` numbered frames of `ms` each."""
    for _ in range(n):
        audio.add(f"frame{int(audio.total_ms // ms)}".encode(), ms)


def names(chunks: list[Chunk]) -> list[str]:
    return [c.mulaw.decode() for c in chunks]


def turn(audio: CallerAudio, item_id: str, start_ms: int, end_ms: int) -> None:
    """A turn the model reported, in ms of its connection's audio."""
    audio.turn_started(item_id, start_ms)
    audio.turn_ended(item_id, end_ms)


def test_everything_since_the_last_transcribed_turn_is_kept() -> None:
    audio = CallerAudio()
    feed(audio, 50)  # 0-1000 ms
    turn(audio, "a", 200, 800)
    feed(audio, 10)
    audio.turn_settled("a")  # its transcript: the conversation holds it up to 800 ms
    assert audio.kept_ms == 1200 - 800
    chunks, had_open = audio.replay()
    assert names(chunks)[0] == "frame40" and not had_open


def test_an_open_turn_is_kept_from_its_start_and_replayed() -> None:
    audio = CallerAudio()
    feed(audio, 10)  # 0-200 ms
    audio.turn_started("a", 120)  # on a connection whose audio began at 0
    feed(audio, 40)  # to 1000 ms
    chunks, had_open = audio.replay()
    assert had_open and names(chunks)[0] == "frame0" and names(chunks)[-1] == "frame49"
    assert audio.kept_ms == 1000  # nothing settled yet: from the call's start


def test_no_tail_of_a_transcribed_turn_is_sent_again() -> None:
    audio = CallerAudio()
    feed(audio, 100)  # 0-2000 ms
    turn(audio, "a", 300, 1900)
    audio.turn_settled("a")
    feed(audio, 5)  # the silence after it
    chunks, _ = audio.replay()
    assert chunks[0].start_ms >= 1880  # the frame holding the turn's last 20 ms at most


def test_a_second_loss_before_the_new_connection_reports_loses_nothing() -> None:
    audio = CallerAudio()
    feed(audio, 10)
    audio.turn_started("a", 100)
    feed(audio, 90)  # the answer, then the connection is lost
    audio.hold()
    first, had_open = audio.replay()
    audio.release()
    assert had_open
    feed(audio, 10)  # the new connection dies before saying anything about it
    audio.hold()
    second, _ = audio.replay()
    assert names(second)[: len(first)] == names(first)


def test_turns_on_the_new_connection_are_placed_from_where_the_replay_began() -> None:
    audio = CallerAudio()
    feed(audio, 50)  # 0-1000 ms
    turn(audio, "a", 100, 600)
    audio.turn_settled("a")  # kept from 600 ms
    audio.hold()
    chunks, _ = audio.replay()  # the new connection's audio begins at 600 ms
    audio.release()
    assert chunks[0].start_ms == 600
    turn(audio, "b", 40, 300)  # 640-900 ms into the call
    audio.turn_settled("b")
    feed(audio, 1)
    assert 1020 - audio.kept_ms == 900


def test_memory_is_bounded_even_for_a_long_open_turn() -> None:
    audio = CallerAudio(max_ms=1000)
    audio.turn_started("a", 0)
    feed(audio, 500)  # 10 s
    assert audio.kept_ms == 1000
    chunks, had_open = audio.replay()
    assert had_open and len(chunks) == 50


def test_memory_is_bounded_while_the_model_stays_away() -> None:
    audio = CallerAudio(max_ms=1000)
    audio.hold()
    feed(audio, 500)  # 10 s of reconnect attempts
    assert audio.kept_ms == 1000


def test_chunks_that_arrive_during_a_replay_follow_it() -> None:
    audio = CallerAudio()
    feed(audio, 5)
    audio.hold()
    chunks, _ = audio.replay()
    feed(audio, 2)  # arrived while the replay was being sent
    assert names(audio.since(chunks[-1])) == ["frame5", "frame6"]


def test_a_turn_whose_transcription_failed_is_settled_too() -> None:
    audio = CallerAudio()
    feed(audio, 50)
    turn(audio, "a", 0, 900)
    audio.turn_settled("a")  # stored flagged: replaying it would make it a new turn
    chunks, had_open = audio.replay()
    assert not had_open and chunks[0].start_ms >= 880


def test_kept_audio_gives_the_garbage_collector_nothing_to_walk() -> None:
    """30 s of frames per call, at 100 calls, would otherwise be most of what every full
    collection walks."""
    audio = CallerAudio()
    gc.collect()
    before = len(gc.get_objects())
    feed(audio, 1500)  # 30 s, all kept
    gc.collect()
    assert audio.kept_ms == 30_000
    assert len(gc.get_objects()) - before < 100
