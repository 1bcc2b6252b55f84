"""The recruiter API's settings: defaults, and one line naming the variable per bad value."""

from __future__ import annotations

import pytest

from service.settings import ConfigError, Settings, load_settings


def load(env: dict[str, str]) -> Settings:
    return load_settings(env, env_file=None)


def test_defaults_and_values() -> None:
    s = load({})
    assert (s.api_rate_limit, s.webhook_retry_ms, s.interview_retry_minutes) == (600, 30_000, 120)
    s = load({"API_RATE_LIMIT": "60", "WEBHOOK_RETRY_MS": "500", "INTERVIEW_RETRY_MINUTES": "30"})
    assert (s.api_rate_limit, s.webhook_retry_ms, s.interview_retry_minutes) == (60, 500, 30)
    assert load({}).webhook_allow_networks == ()  # public addresses only
    allowed = load({"WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/8, fd00::/8"}).webhook_allow_networks
    assert allowed == ("10.0.0.0/8", "fd00::/8")


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("API_RATE_LIMIT", "0", "must be between 1 and 1000000, got 0"),
        ("API_RATE_LIMIT", "lots", "must be a whole number, got 'lots'"),
        ("WEBHOOK_RETRY_MS", "5", "must be between 100 and 3600000, got 5"),
        ("INTERVIEW_RETRY_MINUTES", "1.5", "must be a whole number, got '1.5'"),
        (
            "WEBHOOK_ALLOW_NETWORKS",
            "intranet",
            "must be IP addresses or networks separated by commas, or *, got 'intranet'",
        ),
    ],
)
def test_each_bad_value_is_one_line_naming_the_variable(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load({name: value})
    assert caught.value.problems == [f"{name}: {problem}"]
