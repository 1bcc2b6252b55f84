from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from bridge.audio import AudioFormat
from bridge.realtime_events import Eagerness, ReasoningEffort, TurnDetectionKind
from bridge.resample import ResamplerMethod
from evaluation.cost import NumberType
from evaluation.templates import DEFAULT_TEMPLATE
from service.call_sessions import session_options
from service.settings import ConfigError, Secret, Settings, load_settings

TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "f" * 32


def load(env: dict[str, str], env_file: Path | None = None) -> Settings:
    return load_settings(env, env_file=env_file)


def test_defaults_need_no_variables() -> None:
    s = load({})
    assert s.mongodb_uri is None
    assert s.mongodb_db == "voice_interview"
    assert s.data_dir == Path("./var")
    assert s.openai_realtime_url == "wss://api.openai.com/v1/realtime"
    assert s.openai_realtime_model == "gpt-realtime-2.1"
    assert s.reasoning_effort == "minimal"
    assert s.log_level == "INFO"
    assert s.retention_days is None
    assert s.audio_format == "pcm16" and s.resampler == "fir"
    assert s.max_calls_per_worker == 80  # measured for pcm16
    assert not s.realtime_enabled and not s.rest_enabled


def test_full_configuration_is_typed() -> None:
    s = load(
        {
            "PUBLIC_URL": "https://interviews.example.com/",
            "MONGODB_URI": "mongodb://db.internal:27017",
            "MONGODB_DB": "prod_calls",
            "DATA_DIR": "/srv/vi",
            "RETENTION_DAYS": "30",
            "OPENAI_API_KEY": "sk-test-123",
            "OPENAI_REALTIME_MODEL": "gpt-realtime-mini",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "LOG_LEVEL": "debug",
            "PORT": "9000",
            "ENABLE_REALTIME": "yes",
        }
    )
    assert s.public_url == "https://interviews.example.com"
    assert s.retention_days == 30
    assert s.data_dir == Path("/srv/vi")
    assert s.openai_api_key == Secret("sk-test-123")
    assert s.twilio_auth_token is not None and s.twilio_auth_token.reveal() == TOKEN
    assert s.log_level == "DEBUG" and s.port == 9000
    assert s.realtime_enabled and s.rest_enabled
    assert s.disabled_features() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUBLIC_URL", "ftp://example.com"),
        ("PUBLIC_URL", "https://example.com/?a=1"),
        ("MONGODB_URI", "postgres://x"),
        ("MONGODB_DB", "has space"),
        ("RETENTION_DAYS", "0"),
        ("RETENTION_DAYS", "ten"),
        ("OPENAI_REALTIME_URL", "https://api.openai.com/v1/realtime"),
        ("OPENAI_REALTIME_MODEL", "bad model!"),
        ("ENABLE_REALTIME", "maybe"),
        ("AUDIO_FORMAT", "opus"),
        ("RESAMPLER", "linear"),
        ("TWILIO_ACCOUNT_SID", "AB123"),
        ("LOG_LEVEL", "loud"),
        ("PORT", "70000"),
        ("MAX_CALLS_PER_WORKER", "-1"),
        ("MAX_CALLS_PER_WORKER", "many"),
        ("MAX_CALLS_PER_WORKER", "2.5"),
    ],
)
def test_each_bad_value_gets_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({name: value})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{name}: ")
    assert "\n" not in caught.value.problems[0]


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"PORT": "x", "LOG_LEVEL": "loud", "RESAMPLER": "?"})
    names = sorted(p.split(":")[0] for p in caught.value.problems)
    assert names == ["LOG_LEVEL", "PORT", "RESAMPLER"]


def test_secrets_never_appear_in_errors_or_reprs() -> None:
    bad_token = "not-a-real-token-but-secret-ish"
    with pytest.raises(ConfigError) as caught:
        load({"TWILIO_AUTH_TOKEN": bad_token, "MONGODB_URI": "mysql://user:hunter2@h"})
    text = str(caught.value)
    assert bad_token not in text and "hunter2" not in text
    s = load({"OPENAI_API_KEY": "sk-live-abcdef", "TWILIO_AUTH_TOKEN": TOKEN})
    assert "sk-live-abcdef" not in repr(s) and TOKEN not in repr(s)
    assert "sk-live-abcdef" not in str(s.openai_api_key)
    s = load({"MONGODB_URI": "mongodb://app:hunter2@db.internal"})
    assert s.mongodb_uri == "mongodb://app:hunter2@db.internal" and "hunter2" not in repr(s)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local settings\nMONGODB_DB=from_file\nLOG_LEVEL=WARNING\nOPENAI_API_KEY='sk-from-file'\n"
    )
    s = load({"LOG_LEVEL": "ERROR"}, env_file=env_file)
    assert s.mongodb_db == "from_file"
    assert s.log_level == "ERROR"
    assert s.openai_api_key == Secret("sk-from-file")


def test_bad_value_in_env_file_is_reported(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=eighty\n")
    with pytest.raises(ConfigError, match="PORT: must be a whole number"):
        load({}, env_file=env_file)


def test_empty_values_mean_unset() -> None:
    s = load({"MONGODB_URI": "", "OPENAI_API_KEY": "  "})
    assert s.mongodb_uri is None and s.openai_api_key is None


def test_disabled_features_name_the_missing_variables() -> None:
    off = load({"TWILIO_AUTH_TOKEN": TOKEN}).disabled_features()
    assert any("OPENAI_API_KEY" in f for f in off)
    rest = next(f for f in off if f.startswith("hang-ups"))
    assert "TWILIO_ACCOUNT_SID" in rest and "TWILIO_AUTH_TOKEN" not in rest
    off = load({"OPENAI_API_KEY": "sk-x", "ENABLE_REALTIME": "false"}).disabled_features()
    assert any("ENABLE_REALTIME=false" in f for f in off)


def test_cost_settings_and_price_overrides(tmp_path: Path) -> None:
    s = load({"COST_ALERT_USD": "2.50", "PRICE_OVERRIDES": '{"realtime": {}}'})
    assert s.cost_alert_usd == Decimal("2.50")
    with pytest.raises(ConfigError, match="COST_ALERT_USD"):
        load({"COST_ALERT_USD": "-1"})
    with pytest.raises(ConfigError, match="PRICE_OVERRIDES: must be a JSON object"):
        load({"PRICE_OVERRIDES": "[1, 2]"})
    with pytest.raises(ConfigError, match="PRICES_FILE: no such file"):
        load({"PRICES_FILE": str(tmp_path / "missing.json")})


def test_an_unpriced_model_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"OPENAI_REALTIME_MODEL": "gpt-realtime-9"})
    (problem,) = caught.value.problems
    assert problem.startswith("OPENAI_REALTIME_MODEL: no price for model 'gpt-realtime-9'")
    dated = load({"OPENAI_REALTIME_MODEL": "gpt-realtime-2025-08-28"})
    assert dated.openai_realtime_model == "gpt-realtime-2025-08-28"


def test_the_default_cap_follows_the_audio_format() -> None:
    assert load({"AUDIO_FORMAT": "pcmu"}).max_calls_per_worker == 120
    assert load({"AUDIO_FORMAT": "pcm16"}).max_calls_per_worker == 80
    given = {"AUDIO_FORMAT": "pcmu", "MAX_CALLS_PER_WORKER": "30"}
    assert load(given).max_calls_per_worker == 30  # a cap given is kept
    assert Settings(audio_format="pcmu").max_calls_per_worker == 120
    assert Settings(audio_format="pcmu", max_calls_per_worker=0).max_calls_per_worker == 0


def test_max_calls_per_worker() -> None:
    assert load({"MAX_CALLS_PER_WORKER": "25"}).max_calls_per_worker == 25
    assert load({"MAX_CALLS_PER_WORKER": "0"}).max_calls_per_worker == 0  # no cap
    with pytest.raises(ConfigError) as caught:
        load({"MAX_CALLS_PER_WORKER": "-3"})
    assert caught.value.problems == [
        "MAX_CALLS_PER_WORKER: must be between 0 and 10000 (0 for no cap), got -3"
    ]
    with pytest.raises(ConfigError) as caught:
        load({"MAX_CALLS_PER_WORKER": "forty"})
    assert caught.value.problems == [
        "MAX_CALLS_PER_WORKER: must be a whole number (0 for no cap), got 'forty'"
    ]


def test_settings_built_in_code_read_neither_environment_nor_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CALLS_PER_WORKER", "7")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PORT=9000\n")
    built = Settings()
    assert built.max_calls_per_worker == 80 and built.log_level == "INFO" and built.port == 8000
    assert Settings(max_calls_per_worker=3).max_calls_per_worker == 3
    loaded = load_settings(os.environ)  # the .env file in the working directory, by default
    assert loaded.max_calls_per_worker == 7 and loaded.log_level == "DEBUG"
    assert loaded.port == 9000


class _WatchedEnviron(Mapping[str, str]):
    """os.environ, noting every read."""

    def __init__(self, real: Mapping[str, str]) -> None:
        self.real = real
        self.reads: list[str] = []

    def __getitem__(self, name: str) -> str:
        self.reads.append(name)
        return self.real[name]

    def __iter__(self) -> Iterator[str]:
        self.reads.append("(listed)")
        return iter(self.real)

    def __len__(self) -> int:
        self.reads.append("(counted)")
        return len(self.real)


def test_only_the_mapping_given_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\nHOST=${PORT}\n")
    watched = _WatchedEnviron(os.environ)
    with monkeypatch.context() as patched:
        patched.setattr(os, "environ", watched)
        built = Settings(max_calls_per_worker=7)
        loaded = load_settings({"LOG_LEVEL": "debug"}, env_file=env_file)
    assert watched.reads == []
    assert built.max_calls_per_worker == 7
    assert loaded.port == 9000 and loaded.log_level == "DEBUG"
    assert loaded.host == "${PORT}"  # not interpolated: that would read the process environment


def test_defaults_are_the_same_built_or_loaded() -> None:
    assert Settings() == load({})
    assert Settings().transcription_model == "gpt-realtime-whisper"
    assert (Settings().turn_detection, Settings().vad_eagerness) == ("semantic_vad", "low")
    assert (Settings().vad_silence_ms, Settings().vad_threshold) == (1000, 0.6)
    assert Settings().max_call_seconds == 1800 and Settings().cost_alert_usd == Decimal(5)


def test_choices_are_the_closed_sets_their_modules_define() -> None:
    # Every choice the module defines loads through its variable, and only those.
    for variable, attribute, choices in (
        ("AUDIO_FORMAT", "audio_format", AudioFormat),
        ("RESAMPLER", "resampler", ResamplerMethod),
        ("TWILIO_NUMBER_TYPE", "twilio_number_type", NumberType),
        ("TURN_DETECTION", "turn_detection", TurnDetectionKind),
        ("VAD_EAGERNESS", "vad_eagerness", Eagerness),
    ):
        for choice in get_args(choices):
            assert getattr(load({variable: choice}), attribute) == choice
        with pytest.raises(ConfigError, match=f"{variable}: must be one of"):
            load({variable: "none-of-these"})
    s = load(
        {
            "AUDIO_FORMAT": "PCMU",
            "RESAMPLER": "SoXR-HQ",
            "TURN_DETECTION": "Server_VAD",
            "VAD_EAGERNESS": "HIGH",
            "TWILIO_NUMBER_TYPE": "Toll_Free",
            "OPENAI_VOICE": "Marin",
            "LOG_LEVEL": "warning",
        }
    )
    assert (s.audio_format, s.resampler, s.turn_detection) == ("pcmu", "soxr-hq", "server_vad")
    assert (s.vad_eagerness, s.twilio_number_type) == ("high", "toll_free")
    assert (s.openai_voice, s.log_level) == ("marin", "WARNING")


@pytest.mark.parametrize(
    ("word", "meaning"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_booleans_accept_the_usual_words(word: str, meaning: bool) -> None:
    assert load({"ENABLE_REALTIME": word}).enable_realtime is meaning


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"PORT": "70000"}, "PORT: must be between 1 and 65535, got 70000"),
        ({"PORT": "80.5"}, "PORT: must be a whole number, got '80.5'"),
        ({"ENABLE_REALTIME": "maybe"}, "ENABLE_REALTIME: must be true or false, got 'maybe'"),
        ({"VAD_THRESHOLD": "1.5"}, "VAD_THRESHOLD: must be between 0 and 1, got 1.5"),
        (
            {"VAD_THRESHOLD": "most"},
            "VAD_THRESHOLD: must be a number between 0 and 1, got 'most'",
        ),
        ({"AUDIO_FORMAT": "opus"}, "AUDIO_FORMAT: must be one of pcm16, pcmu, got 'opus'"),
        (
            {"LOG_LEVEL": "loud"},
            "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'",
        ),
        ({"COST_ALERT_USD": "-1"}, "COST_ALERT_USD: must be a positive amount, got '-1'"),
        ({"COST_ALERT_USD": "lots"}, "COST_ALERT_USD: must be an amount in dollars, got 'lots'"),
        (
            {"PUBLIC_URL": "ftp://example.com"},
            "PUBLIC_URL: must be a https/http URL with a host, got 'ftp://example.com'",
        ),
        (
            {"PUBLIC_URL": "https://example.com/#top"},
            "PUBLIC_URL: must not carry a query string or fragment, got 'https://example.com/#top'",
        ),
        (
            {"OPENAI_TRANSCRIPTION_MODEL": "bad model!"},
            "OPENAI_TRANSCRIPTION_MODEL: must be a model name such as gpt-realtime-whisper,"
            " got 'bad model!'",
        ),
        ({"MONGODB_URI": "redis://x"}, "MONGODB_URI: must start with mongodb:// or mongodb+srv://"),
        (
            {"TWILIO_AUTH_TOKEN": "abc"},
            "TWILIO_AUTH_TOKEN: must be 32 hex digits (the Twilio auth token)",
        ),
        ({"OPENAI_API_KEY": "sk two words"}, "OPENAI_API_KEY: must not contain whitespace"),
    ],
)
def test_messages_say_what_is_wanted(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(env)
    assert caught.value.problems == [problem]


def test_urls_lose_their_trailing_slash_and_values_their_spaces() -> None:
    s = load(
        {
            "TWILIO_API_URL": "https://api.dublin.ie1.twilio.com/",
            "OPENAI_REALTIME_URL": " ws://127.0.0.1:9/v1/realtime/ ",
            "PORT": " 9000 ",
        }
    )
    assert s.twilio_api_url == "https://api.dublin.ie1.twilio.com"
    assert s.openai_realtime_url == "ws://127.0.0.1:9/v1/realtime"
    assert s.port == 9000


def test_unknown_variables_are_ignored_and_names_are_exact() -> None:
    s = load({"PATH": "/usr/bin", "VOICE_INTERVIEW_X": "?", "port": "not a port", "Port": "1"})
    assert s.port == 8000


def test_an_unpriced_model_is_reported_with_every_other_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"OPENAI_TRANSCRIPTION_MODEL": "whisper-9", "PORT": "0", "PRICES_FILE": "/nope"})
    names = sorted(p.split(":")[0] for p in caught.value.problems)
    assert names == ["OPENAI_TRANSCRIPTION_MODEL", "PORT", "PRICES_FILE"]
    assert str(caught.value).count("\n") == 2


def test_a_model_priced_by_an_override_is_accepted() -> None:
    rates = {"per_minute": "0.01"}
    overrides = json.dumps({"transcription": {"whisper-9": rates}})
    s = load({"OPENAI_TRANSCRIPTION_MODEL": "whisper-9", "PRICE_OVERRIDES": overrides})
    assert s.prices.transcription("whisper-9").per_minute == Decimal("0.01")


def test_bad_price_data_is_one_line_naming_the_variable() -> None:
    overrides = json.dumps({"realtime": {"gpt-realtime": {"text_in": -1, "audio_out": "x"}}})
    with pytest.raises(ConfigError) as caught:
        load({"PRICE_OVERRIDES": overrides})
    (problem,) = caught.value.problems
    assert problem.startswith("PRICE_OVERRIDES: ") and "text_in" in problem
    assert "audio_out" in problem and "\n" not in problem


def test_secret_keeps_its_api() -> None:
    assert Secret("x") == Secret("x") and Secret("x") != Secret("y")
    assert hash(Secret("x")) == hash(Secret("x"))
    assert Secret("sk-1").reveal() == "sk-1"
    assert "sk-1" not in repr(Secret("sk-1")) and "sk-1" not in str(Secret("sk-1"))
    built = Settings(openai_api_key="sk-from-code")  # type: ignore[arg-type]
    assert built.openai_api_key == Secret("sk-from-code")


def test_settings_are_validated_and_frozen_when_built_in_code() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(port=0, twilio_auth_token="hunter2-is-no-token")  # type: ignore[arg-type]
    text = str(caught.value)
    assert "must be between 1 and 65535" in text and "hunter2" not in text
    with pytest.raises(ValidationError):  # a misspelt keyword is refused, not ignored
        Settings(max_call_second=3)  # type: ignore[call-arg]
    s = Settings()
    with pytest.raises(ValidationError):
        s.port = 9000
    assert s.model_copy(update={"port": 9000}).port == 9000 and s.port == 8000


def test_forwarded_allow_ips_are_addresses_networks_or_any() -> None:
    assert load({}).forwarded_allow_ips == ("127.0.0.1",)
    given = load({"FORWARDED_ALLOW_IPS": "10.0.0.7, 10.1.0.0/16,::1"}).forwarded_allow_ips
    assert given == ("10.0.0.7", "10.1.0.0/16", "::1")
    assert load({"FORWARDED_ALLOW_IPS": "*"}).forwarded_allow_ips == ("*",)
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS: must be IP addresses"):
        load({"FORWARDED_ALLOW_IPS": "10.0.0.7,proxy.internal"})


def test_models_with_an_announced_shutdown_are_warned_about() -> None:
    assert load({}).model_warnings() == []  # the defaults are current models
    deprecated = load(
        {
            "OPENAI_REALTIME_MODEL": "gpt-realtime",
            "OPENAI_TRANSCRIPTION_MODEL": "gpt-4o-mini-transcribe",
        }
    ).model_warnings()
    assert [w.split("=")[0] for w in deprecated] == [
        "OPENAI_REALTIME_MODEL",
        "OPENAI_TRANSCRIPTION_MODEL",
    ]
    assert "2027-01-20" in deprecated[0] and "2027-02-26" in deprecated[1]


def test_reasoning_effort_is_a_closed_set_sent_only_to_reasoning_models() -> None:
    for effort in get_args(ReasoningEffort):
        assert load({"REASONING_EFFORT": effort}).reasoning_effort == effort
    with pytest.raises(ConfigError, match="REASONING_EFFORT: must be one of"):
        load({"REASONING_EFFORT": "max"})
    template = DEFAULT_TEMPLATE
    for model, sent in (("gpt-realtime-2.1", {"effort": "high"}), ("gpt-realtime-1.5", None)):
        settings = load({"OPENAI_REALTIME_MODEL": model, "REASONING_EFFORT": "high"})
        wire = session_options(settings).session_config(template).to_wire()["session"]
        assert wire.get("reasoning") == sent


def test_transcript_redaction_is_opt_in() -> None:
    assert not load({}).redact_transcripts
    assert load({"REDACT_TRANSCRIPTS": "yes"}).redact_transcripts
    with pytest.raises(ConfigError, match="REDACT_TRANSCRIPTS: must be true or false"):
        load({"REDACT_TRANSCRIPTS": "sometimes"})
