"""The price table: packaged figures, dated model names, overrides and effective dates."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from evaluation.prices import PriceError, UnknownModelError, base_model, load_prices


def test_packaged_figures() -> None:
    p = load_prices()
    rt = p.realtime("gpt-realtime")
    assert (rt.text_in, rt.text_in_cached, rt.text_out) == (
        Decimal("4"),
        Decimal("0.4"),
        Decimal("16"),
    )
    assert (rt.audio_in, rt.audio_in_cached, rt.audio_out) == (
        Decimal("32"),
        Decimal("0.4"),
        Decimal("64"),
    )
    mini = p.realtime("gpt-realtime-mini")
    assert (mini.text_in, mini.text_in_cached, mini.text_out) == (
        Decimal("0.60"),
        Decimal("0.06"),
        Decimal("2.40"),
    )
    assert (mini.audio_in, mini.audio_in_cached, mini.audio_out) == (
        Decimal("10"),
        Decimal("0.30"),
        Decimal("20"),
    )
    assert p.transcription("whisper-1").per_minute == Decimal("0.006")
    t = p.transcription("gpt-4o-mini-transcribe")
    assert (t.text_in, t.out) == (Decimal("1.25"), Decimal("5"))
    tw = p.twilio
    assert tw.inbound_local_per_min == Decimal("0.0085")
    assert tw.inbound_toll_free_per_min == Decimal("0.022")
    assert tw.outbound_per_min == Decimal("0.014")
    assert tw.media_streams_per_min == Decimal("0.004")
    assert tw.amd_per_call == Decimal("0.0075")


def test_dated_model_names_resolve_to_their_family() -> None:
    p = load_prices()
    assert base_model("gpt-realtime-2025-08-28") == "gpt-realtime"
    assert p.realtime("gpt-realtime-2025-08-28") == p.realtime("gpt-realtime")
    assert p.realtime("gpt-realtime-mini-2025-10-06").model == "gpt-realtime-mini"


@pytest.mark.parametrize("model", ["gpt-4o-realtime-preview", "gpt-realtime-9", "", "whisper-1"])
def test_unknown_models_are_errors_never_free(model: str) -> None:
    with pytest.raises(UnknownModelError) as caught:
        load_prices().realtime(model)
    assert caught.value.model == model
    assert f"no price for model {model!r}" in str(caught.value)
    assert "gpt-realtime-mini" in str(caught.value)


def test_override_mapping_replaces_single_fields() -> None:
    p = load_prices(
        overrides={
            "realtime": {"gpt-realtime": {"audio_in": 40}},
            "twilio": {"outbound_per_min": 0.0131},
        }
    )
    rt = p.realtime("gpt-realtime")
    assert rt.audio_in == Decimal("40")
    assert rt.audio_out == Decimal("64")
    assert p.twilio.outbound_per_min == Decimal("0.0131")
    assert p.twilio.inbound_local_per_min == Decimal("0.0085")


def test_override_file_adds_models_and_dated_entries(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    full = {
        "text_in": "5",
        "text_in_cached": "0.5",
        "text_out": "20",
        "audio_in": "40",
        "audio_in_cached": "0.5",
        "audio_out": "80",
    }
    path.write_text(
        json.dumps(
            {
                "realtime": {
                    "gpt-realtime": [
                        {"effective": "2026-01-01", "audio_in": 33},
                        {"effective": "2027-01-01", "audio_in": 50},
                    ],
                    "gpt-realtime-2": full,
                },
                "transcription": {"gpt-4o-transcribe": {"text_in": 2.5, "audio_in": 6, "out": 10}},
            }
        )
    )
    newest = load_prices(override_file=path)
    assert newest.realtime("gpt-realtime").audio_in == Decimal("50")
    assert newest.realtime("gpt-realtime-2").text_out == Decimal("20")
    assert newest.transcription("gpt-4o-transcribe").audio_in == Decimal("6")
    mid_2026 = load_prices(override_file=path, on=date(2026, 6, 1))
    assert mid_2026.realtime("gpt-realtime").audio_in == Decimal("33")
    assert mid_2026.on == date(2026, 6, 1)
    both = load_prices(
        override_file=path, overrides={"realtime": {"gpt-realtime": {"audio_in": 35}}}
    )
    assert both.realtime("gpt-realtime").audio_in == Decimal("35")


def test_override_problems_are_listed_together() -> None:
    with pytest.raises(PriceError) as caught:
        load_prices(
            overrides={
                "realtime": {
                    "gpt-realtime": {"audio_in": -1, "video_in": 3, "text_out": "cheap"},
                    "my-model": {"text_in": 1},
                },
                "twilio": {"amd_per_call": True},
                "sms": {},
            }
        )
    assert str(caught.value).splitlines() == [
        "overrides: sms: unknown field",
        "overrides: realtime.gpt-realtime.text_out: must be a number >= 0",
        "overrides: realtime.gpt-realtime.audio_in: must be a number >= 0",
        "overrides: realtime.gpt-realtime.video_in: unknown field",
        "overrides: twilio.amd_per_call: must be a number >= 0",
        "realtime.my-model: no text_in_cached, text_out, audio_in, audio_in_cached, audio_out",
    ]


def test_dated_entries_are_named_by_position(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "realtime": {
                    "gpt-realtime": [
                        {"effective": "2026-01-01", "text_in": -1},
                        {"effective": "soon", "audio_in": 1},
                        "free",
                    ]
                },
                "twilio": [{"amd_per_call": None}],
            }
        )
    )
    with pytest.raises(PriceError) as caught:
        load_prices(override_file=path)
    assert str(caught.value).splitlines() == [
        f"{path}: realtime.gpt-realtime[0].text_in: must be a number >= 0",
        f"{path}: realtime.gpt-realtime[1].effective: must be a date like 2026-01-01",
        f"{path}: realtime.gpt-realtime[2]: must be an object",
        f"{path}: twilio[0].amd_per_call: must be a number >= 0",
    ]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ([], "overrides: must be an object"),
        ({"realtime": 3}, "overrides: realtime: must be an object"),
        ({"twilio": None}, "overrides: twilio: must be an object"),
        ({"realtime": {"gpt-realtime": {"audio_in": float("nan")}}}, "audio_in"),
        ({"realtime": {"gpt-realtime": {"audio_in": "Infinity"}}}, "audio_in"),
        ({"realtime": {"gpt-realtime": {"audio_in": None}}}, "audio_in"),
        ({"realtime": {"gpt-realtime": {"effective": 20260101}}}, "effective"),
    ],
)
def test_malformed_layers_are_refused(overrides: object, problem: str) -> None:
    with pytest.raises(PriceError) as caught:
        load_prices(overrides=overrides)  # type: ignore[arg-type]
    [line] = str(caught.value).splitlines()
    assert line == problem or line.startswith(f"overrides: realtime.gpt-realtime.{problem}: ")


def test_money_is_exact() -> None:
    p = load_prices(
        overrides={
            "realtime": {
                "gpt-realtime": {"text_in": 0.1, "audio_in": Decimal("0.30"), "text_out": 7}
            },
            "twilio": {"amd_per_call": "0.0075"},
        }
    )
    rt = p.realtime("gpt-realtime")
    assert (rt.text_in, rt.audio_in, rt.text_out) == (Decimal("0.1"), Decimal("0.30"), Decimal(7))
    assert p.twilio.amd_per_call == Decimal("0.0075")
    assert p.transcription("whisper-1").per_minute == Decimal("0.006")


def test_transcription_needs_one_kind_of_price() -> None:
    one_kind = "give one of per_minute, per_minute_streamed or token prices"
    with pytest.raises(PriceError, match=one_kind):
        load_prices(overrides={"transcription": {"whisper-1": {"out": 1}}})
    with pytest.raises(PriceError, match=one_kind):
        load_prices(overrides={"transcription": {"gpt-realtime-whisper": {"per_minute": 1}}})
    with pytest.raises(
        PriceError, match="needs per_minute, per_minute_streamed, or all of text_in, audio_in, out"
    ):
        load_prices(overrides={"transcription": {"x-transcribe": {"out": 1}}})


def test_a_date_before_any_price_is_an_error() -> None:
    with pytest.raises(PriceError, match="twilio: no inbound_local_per_min"):
        load_prices(on=date(2020, 1, 1))
    undated_twilio = {
        "inbound_local_per_min": 0.01,
        "inbound_toll_free_per_min": 0.02,
        "outbound_per_min": 0.02,
        "media_streams_per_min": 0.004,
        "amd_per_call": 0,
    }
    p = load_prices(overrides={"twilio": undated_twilio}, on=date(2020, 1, 1))
    assert p.twilio.inbound_local_per_min == Decimal("0.01")
    with pytest.raises(UnknownModelError, match="on 2020-01-01"):
        p.realtime("gpt-realtime")


def test_unreadable_or_invalid_override_files(tmp_path: Path) -> None:
    with pytest.raises(PriceError, match="cannot read"):
        load_prices(override_file=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PriceError, match=r"bad\.json: not valid JSON"):
        load_prices(override_file=bad)


def test_current_models_are_priced_and_announced_shutdowns_known() -> None:
    p = load_prices()
    for model in (
        "gpt-realtime-2.1",
        "gpt-realtime-2",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-1.5",
    ):
        assert p.shutdown(model) is None
    assert p.realtime("gpt-realtime-2.1").text_out == Decimal("24")
    assert p.realtime("gpt-realtime-2.1-mini").audio_out == Decimal("20")
    streaming = p.transcription("gpt-realtime-whisper")
    assert streaming.per_minute_streamed == Decimal("0.017") and streaming.per_minute is None
    assert p.transcription("gpt-live-transcribe").per_minute_streamed == Decimal("0.017")
    assert p.shutdown("gpt-realtime") == date(2027, 1, 20)
    assert p.shutdown("gpt-realtime-mini-2025-10-06") == date(2027, 1, 20)  # its family's
    assert p.shutdown("gpt-4o-mini-transcribe") == date(2027, 2, 26)
    later = load_prices(overrides={"shutdowns": {"gpt-realtime-1.5": "2027-06-30"}})
    assert later.shutdown("gpt-realtime-1.5") == date(2027, 6, 30)
    with pytest.raises(PriceError, match="shutdowns"):
        load_prices(overrides={"shutdowns": {"gpt-realtime-1.5": "soon"}})
