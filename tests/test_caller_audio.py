"""The caller's recent audio, kept for a replay after the model connection drops."""

from __future__ import annotations

from bridge.caller_audio import CallerAudio, Chunk


def feed(audio: CallerAudio, n: int, ms: float = 20.0, *, alive: bool = True) -> None:
    """`n` frames, each followed by an event from the model (unless it has gone quiet)."""
    for _ in range(n):
        audio.add(f"frame{int(audio.total_ms // ms)}".encode(), ms)
        if alive:
            audio.alive()


def names(chunks: list[Chunk]) -> list[str]:
    return [c.mulaw.decode() for c in chunks]


def test_without_an_open_turn_only_the_lead_is_kept() -> None:
    audio = CallerAudio(lead_ms=100)
    feed(audio, 50)
    # The lead before the model's last event, and the frame sent since.
    assert audio.kept_ms == 100 + 20
    chunks, had_open = audio.replay()
    assert names(chunks) == [f"frame{i}" for i in range(45, 50)] and not had_open


def test_an_open_turn_is_kept_from_its_start_and_replayed() -> None:
    audio = CallerAudio(lead_ms=100)
    feed(audio, 10)  # 0-200 ms
    audio.turn_started("item_a", 120)  # on a connection whose audio began at 0
    feed(audio, 40)  # to 1000 ms
    assert audio.kept_ms == 1000 - 120
    chunks, had_open = audio.replay()
    assert had_open and names(chunks)[0] == "frame6" and names(chunks)[-1] == "frame49"


def test_a_transcribed_turn_is_no_longer_kept() -> None:
    audio = CallerAudio(lead_ms=100)
    audio.turn_started("item_a", 0)
    feed(audio, 30)
    assert audio.kept_ms == 600
    audio.turn_settled("item_a")
    feed(audio, 1)
    assert audio.kept_ms == 100 + 20
    assert audio.replay()[1] is False


def test_memory_is_bounded_even_for_a_long_open_turn() -> None:
    audio = CallerAudio(lead_ms=100, max_ms=1000)
    audio.turn_started("item_a", 0)
    feed(audio, 500)  # 10 s
    assert audio.kept_ms == 1000
    chunks, had_open = audio.replay()
    assert had_open and len(chunks) == 50


def test_memory_is_bounded_while_the_model_stays_away() -> None:
    audio = CallerAudio(lead_ms=100, max_ms=1000)
    audio.hold()
    feed(audio, 500, alive=False)  # 10 s of reconnect attempts
    assert audio.kept_ms == 1000


def test_held_audio_is_all_kept_until_released() -> None:
    audio = CallerAudio(lead_ms=100)
    feed(audio, 10)
    audio.hold()
    feed(audio, 20, alive=False)  # said while there was no connection
    assert audio.kept_ms == 120 + 400
    chunks, _ = audio.replay()
    assert names(chunks) == [f"frame{i}" for i in range(5, 30)]
    audio.release()  # the new connection is alive as of the replay
    assert not audio.held and audio.kept_ms == 100


def test_turns_on_the_new_connection_are_placed_from_where_the_replay_began() -> None:
    audio = CallerAudio(lead_ms=100)
    feed(audio, 50)  # 0-1000 ms
    audio.turn_started("old", 900)
    audio.hold()
    chunks, _ = audio.replay()  # the new connection's audio begins at 900 ms
    audio.release()
    assert chunks[0].start_ms == 900
    audio.turn_started("new", 40)  # 40 ms into the new connection: 940 ms into the call
    feed(audio, 100)
    kept_from = 3000 - audio.kept_ms
    assert kept_from == 940


def test_chunks_that_arrive_during_a_replay_follow_it() -> None:
    audio = CallerAudio(lead_ms=60)
    feed(audio, 5)
    audio.hold()
    chunks, _ = audio.replay()
    feed(audio, 2, alive=False)  # arrived while the replay was being sent
    assert names(audio.since(chunks[-1])) == ["frame5", "frame6"]


def test_audio_sent_since_the_model_went_quiet_is_kept() -> None:
    """A half-open connection takes audio without a word back: all of it is replayed."""
    audio = CallerAudio(lead_ms=100)
    feed(audio, 10)
    feed(audio, 100, alive=False)
    assert audio.kept_ms == 100 + 2000
    chunks, had_open = audio.replay()
    assert names(chunks)[0] == "frame5" and len(chunks) == 105 and not had_open
