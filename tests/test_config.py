from __future__ import annotations

from pathlib import Path

import pytest

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
    assert s.openai_realtime_model == "gpt-realtime"
    assert s.log_level == "INFO"
    assert s.retention_days is None
    assert s.audio_format == "pcm16" and s.resampler == "fir"
    assert s.max_calls_per_worker == 40
    assert not s.realtime_enabled and not s.outbound_calls_enabled


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
            "TWILIO_FROM_NUMBER": "+14155550100",
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
    assert s.realtime_enabled and s.outbound_calls_enabled
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
        ("TWILIO_FROM_NUMBER", "4155550100"),
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
    outbound = next(f for f in off if f.startswith("outbound"))
    assert "TWILIO_ACCOUNT_SID" in outbound and "TWILIO_AUTH_TOKEN" not in outbound
    off = load({"OPENAI_API_KEY": "sk-x", "ENABLE_REALTIME": "false"}).disabled_features()
    assert any("ENABLE_REALTIME=false" in f for f in off)


def test_cost_settings_and_price_overrides(tmp_path: Path) -> None:
    from decimal import Decimal

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
