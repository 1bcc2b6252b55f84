"""Every setting the service reads, from the environment and an optional `.env` file.

Read once at start-up and passed down explicitly, so no other module touches
`os.environ` and every bad value is reported together, one line per variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bridge.audio import AUDIO_FORMATS, RESAMPLER_METHODS
from evaluation.prices import PriceError, PriceTable, load_prices
from evaluation.templates import VOICES

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TURN_DETECTIONS = ("semantic_vad", "server_vad")
EAGERNESS = ("low", "medium", "high", "auto")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Secret:
    """A string that never shows itself in reprs, logs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConfigError(Exception):
    """All configuration problems found, one line each, naming the variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class Settings:
    public_url: str | None = None
    mongodb_uri: str | None = None
    mongodb_db: str = "voice_interview"
    mongodb_timeout_ms: int = 5000
    data_dir: Path = Path("./var")
    retention_days: int | None = None
    openai_api_key: Secret | None = None
    openai_realtime_url: str = "wss://api.openai.com/v1/realtime"
    openai_realtime_model: str = "gpt-realtime"
    enable_realtime: bool = True
    audio_format: str = "pcm16"
    resampler: str = "fir"
    openai_voice: str | None = None
    transcription_model: str = "gpt-4o-mini-transcribe"
    turn_detection: str = "semantic_vad"
    vad_eagerness: str = "low"
    vad_silence_ms: int = 1000
    vad_threshold: float = 0.6
    max_call_seconds: int = 1800
    # Simultaneous calls one worker process takes before it answers "busy"; 0: no cap.
    max_calls_per_worker: int = 40
    cost_alert_usd: Decimal = Decimal(5)
    prices: PriceTable = field(default_factory=load_prices)
    twilio_account_sid: str | None = None
    twilio_auth_token: Secret | None = field(default=None)
    twilio_from_number: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_number_type: str = "local"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def realtime_enabled(self) -> bool:
        return self.enable_realtime and self.openai_api_key is not None

    @property
    def twilio_signing_enabled(self) -> bool:
        return self.twilio_auth_token is not None

    @property
    def outbound_calls_enabled(self) -> bool:
        return None not in (
            self.twilio_account_sid,
            self.twilio_auth_token,
            self.twilio_from_number,
            self.public_url,
        )

    def disabled_features(self) -> list[str]:
        """Human-readable list of features that stay off, and which variables turn them on."""
        off: list[str] = []
        if self.openai_api_key is None:
            off.append("live interviews (set OPENAI_API_KEY)")
        elif not self.enable_realtime:
            off.append("live interviews (ENABLE_REALTIME=false)")
        if self.twilio_auth_token is None:
            off.append("Twilio webhooks and media streams (set TWILIO_AUTH_TOKEN)")
        if not self.outbound_calls_enabled:
            missing = [
                name
                for name, value in (
                    ("TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                    ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                    ("TWILIO_FROM_NUMBER", self.twilio_from_number),
                    ("PUBLIC_URL", self.public_url),
                )
                if value is None
            ]
            off.append(f"outbound calls (set {', '.join(missing)})")
        return off


class _Reader:
    """Pulls typed values out of a mapping, collecting a problem per bad variable."""

    def __init__(self, values: Mapping[str, str | None]) -> None:
        self.values = values
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as exc:
            self.problems.append(f"{name}: {exc}")
            return default

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        return self.get(name, parse, None)

    def secret(self, name: str, check: Callable[[str], None] | None = None) -> Secret | None:
        value = self.raw(name)
        if value is None:
            return None
        if check is not None:
            try:
                check(value)
            except ValueError as exc:  # the message must not contain the value
                self.problems.append(f"{name}: {exc}")
                return None
        return Secret(value)


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        normal = value.upper() if upper else value.lower()
        if normal not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return normal

    return parse


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _int_in(low: int, high: int, hint: str = "") -> Callable[[str], int]:
    note = f" ({hint})" if hint else ""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"must be a whole number{note}, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}{note}, got {number}")
        return number

    return parse


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {number}")
    return number


def _money(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"must be an amount in dollars, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"must be a positive amount, got {value!r}")
    return amount


def _prices(r: _Reader) -> PriceTable:
    """The packaged prices with PRICES_FILE and PRICE_OVERRIDES (JSON) laid over them."""
    file_name = r.raw("PRICES_FILE")
    override_text = r.raw("PRICE_OVERRIDES")
    path = Path(file_name) if file_name else None
    if path is not None and not path.is_file():
        r.problems.append(f"PRICES_FILE: no such file {file_name!r}")
        path = None
    overrides = None
    if override_text is not None:
        try:
            overrides = json.loads(override_text)
        except ValueError:
            r.problems.append("PRICE_OVERRIDES: must be a JSON object")
        if overrides is not None and not isinstance(overrides, dict):
            r.problems.append("PRICE_OVERRIDES: must be a JSON object")
            overrides = None
    try:
        return load_prices(path, overrides)
    except PriceError as exc:
        name = "PRICE_OVERRIDES" if overrides is not None else "PRICES_FILE"
        r.problems.append(f"{name}: {str(exc).splitlines()[0]}")
        return load_prices()


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(f"must be a {'/'.join(schemes)} URL with a host, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"must not carry a query string or fragment, got {value!r}")
        return value.rstrip("/")

    return parse


def _mongodb_uri(value: str) -> str:
    if not value.startswith(("mongodb://", "mongodb+srv://")):
        # The URI may hold a password: name the problem, not the value.
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    return value


_DB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_MODEL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"must be {what}, got {value!r}")
        return value

    return parse


def _account_sid(value: str) -> str:
    if not _ACCOUNT_SID.match(value):
        raise ValueError("must be 'AC' followed by 32 hex digits")
    return value


def _phone(value: str) -> str:
    if not _E164.match(value):
        raise ValueError("must be an E.164 number such as +14155550100")
    return value


def _openai_key(value: str) -> None:
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")


def _auth_token(value: str) -> None:
    if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
        raise ValueError("must be 32 hex digits (the Twilio auth token)")


def load_settings(environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> Settings:
    """Build validated settings; the environment wins over the `.env` file.

    Raises ConfigError listing every bad variable, so one start-up shows them all.
    """
    values: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        values.update(dotenv_values(env_file))
    values.update(environ)
    r = _Reader(values)
    settings = Settings(
        public_url=r.optional("PUBLIC_URL", _url(("https", "http"))),
        mongodb_uri=r.optional("MONGODB_URI", _mongodb_uri),
        mongodb_db=r.get(
            "MONGODB_DB",
            _matching(_DB_NAME, "1-63 letters, digits, '_' or '-'"),
            "voice_interview",
        ),
        mongodb_timeout_ms=r.get("MONGODB_TIMEOUT_MS", _int_in(100, 120_000), 5000),
        data_dir=r.get("DATA_DIR", Path, Path("./var")),
        retention_days=r.optional("RETENTION_DAYS", _int_in(1, 36500)),
        openai_api_key=r.secret("OPENAI_API_KEY", _openai_key),
        openai_realtime_url=r.get(
            "OPENAI_REALTIME_URL", _url(("wss", "ws")), "wss://api.openai.com/v1/realtime"
        ),
        openai_realtime_model=r.get(
            "OPENAI_REALTIME_MODEL",
            _matching(_MODEL, "a model name such as gpt-realtime"),
            "gpt-realtime",
        ),
        enable_realtime=r.get("ENABLE_REALTIME", _boolean, True),
        audio_format=r.get("AUDIO_FORMAT", _choice(AUDIO_FORMATS), "pcm16"),
        resampler=r.get("RESAMPLER", _choice(RESAMPLER_METHODS), "fir"),
        openai_voice=r.optional("OPENAI_VOICE", _choice(VOICES)),
        transcription_model=r.get(
            "OPENAI_TRANSCRIPTION_MODEL",
            _matching(_MODEL, "a model name such as gpt-4o-mini-transcribe"),
            "gpt-4o-mini-transcribe",
        ),
        turn_detection=r.get("TURN_DETECTION", _choice(TURN_DETECTIONS), "semantic_vad"),
        vad_eagerness=r.get("VAD_EAGERNESS", _choice(EAGERNESS), "low"),
        vad_silence_ms=r.get("VAD_SILENCE_MS", _int_in(200, 5000), 1000),
        vad_threshold=r.get("VAD_THRESHOLD", _fraction, 0.6),
        max_call_seconds=r.get("MAX_CALL_SECONDS", _int_in(120, 14400), 1800),
        max_calls_per_worker=r.get("MAX_CALLS_PER_WORKER", _int_in(0, 10_000, "0 for no cap"), 40),
        cost_alert_usd=r.get("COST_ALERT_USD", _money, Decimal(5)),
        prices=_prices(r),
        twilio_account_sid=r.optional("TWILIO_ACCOUNT_SID", _account_sid),
        twilio_auth_token=r.secret("TWILIO_AUTH_TOKEN", _auth_token),
        twilio_from_number=r.optional("TWILIO_FROM_NUMBER", _phone),
        twilio_api_url=r.get("TWILIO_API_URL", _url(("https", "http")), "https://api.twilio.com"),
        twilio_number_type=r.get("TWILIO_NUMBER_TYPE", _choice(("local", "toll_free")), "local"),
        log_level=r.get("LOG_LEVEL", _choice(LOG_LEVELS, upper=True), "INFO"),
        host=r.get("HOST", str, "127.0.0.1"),
        port=r.get("PORT", _int_in(1, 65535), 8000),
    )
    for name, model, lookup in (
        ("OPENAI_REALTIME_MODEL", settings.openai_realtime_model, settings.prices.realtime),
        (
            "OPENAI_TRANSCRIPTION_MODEL",
            settings.transcription_model,
            settings.prices.transcription,
        ),
    ):
        try:
            lookup(model)
        except PriceError as exc:
            r.problems.append(f"{name}: {exc} (add it with PRICES_FILE or PRICE_OVERRIDES)")
    if r.problems:
        raise ConfigError(r.problems)
    return settings
