"""Every setting the service reads, from the environment and an optional `.env` file.

Read once at start-up and passed down explicitly, so no other module touches
`os.environ` and every bad value is reported together, one line per variable.

`Settings` is a plain frozen pydantic model, so `Settings(port=9000)` in code (tests
do this) validates what it is given and reads nothing else. `load_settings` alone reads
the environment, through `_Environment`, a pydantic-settings source over the mapping it
is handed and the `.env` file; it finds each variable from the model's own fields, so
every variable and its default are declared once, below. Not a BaseSettings with its
sources cut down to the constructor's: that constructor still copies `os.environ` and
obeys PYDANTIC_SETTINGS_DEBUG, which logs every source's raw values, secrets included,
and pydantic routes `model_validate` through it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    SecretStr,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import PydanticBaseSettingsSource

from bridge.audio import AudioFormat
from bridge.realtime_events import Eagerness, ReasoningEffort, TurnDetectionKind
from bridge.resample import ResamplerMethod
from evaluation.cost import NumberType
from evaluation.prices import PriceError, PriceTable, load_prices
from evaluation.templates import Voice
from service import setting_rules as rules

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
InterviewEngine = Literal["auto", "realtime", "relay"]
TtsProvider = Literal["ElevenLabs", "Google", "Amazon"]
TranscriptionProvider = Literal["Deepgram", "Google"]

_MODEL_NAME = r"^[A-Za-z0-9._-]{1,100}$"


class Secret(SecretStr):
    """A string that never shows itself in reprs, logs or error messages."""

    def reveal(self) -> str:
        return self.get_secret_value()


class ConfigError(Exception):
    """All configuration problems found, one line each, naming the variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _unpriced(exc: PriceError) -> PydanticCustomError:
    return PydanticCustomError(
        "unpriced", "{problem} (add it with PRICES_FILE or PRICE_OVERRIDES)", {"problem": str(exc)}
    )


_AccountSid = Annotated[str, StringConstraints(pattern=r"^AC[0-9a-fA-F]{32}$")]
_E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]


# Calls one worker (one core) takes by default, by AUDIO_FORMAT: on the development VM
# (benchmarks/README.md) p99 stays under 5 ms with the core about half busy, leaving room
# for a slower host: 80 PCM16 calls at 48-50 %, 120 mu-law calls at 48-51 %.
CALLS_PER_WORKER: dict[str, int] = {"pcm16": 80, "pcmu": 120}


class Settings(BaseModel):
    """The validated settings; the field's name in capitals is its variable."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",  # a misspelt keyword in code is a bug, not an unknown variable
        alias_generator=AliasGenerator(validation_alias=str.upper),
        validate_by_name=True,
        validate_by_alias=True,
        hide_input_in_errors=True,  # a ValidationError's text never quotes a secret
    )

    public_url: Annotated[str | None, rules.url("https", "http")] = None
    forwarded_allow_ips: Annotated[tuple[str, ...], WrapValidator(rules.addresses)] = ("127.0.0.1",)
    # Private networks webhooks may still be delivered to (all others must be public).
    webhook_allow_networks: Annotated[tuple[str, ...], WrapValidator(rules.addresses)] = ()
    mongodb_uri: Annotated[str | None, AfterValidator(rules.mongodb_uri)] = Field(
        default=None, repr=False
    )
    mongodb_db: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,63}$"),
        rules.worded("must be 1-63 letters, digits, '_' or '-', got {got}"),
    ] = "voice_interview"
    mongodb_timeout_ms: Annotated[int, rules.between(100, 120_000)] = 5000
    data_dir: Path = Path("./var")
    retention_days: Annotated[int | None, rules.between(1, 36500)] = None
    # Before the models it prices: their validator looks them up in it.
    prices: InstanceOf[PriceTable] = Field(default_factory=load_prices, repr=False)
    openai_api_key: Annotated[
        Secret | None, rules.secret_rule(r"\S+", "must not contain whitespace")
    ] = None
    openai_realtime_url: Annotated[str, rules.url("wss", "ws")] = "wss://api.openai.com/v1/realtime"
    openai_realtime_model: Annotated[
        str,
        StringConstraints(pattern=_MODEL_NAME),
        rules.worded("must be a model name such as gpt-realtime-2.1, got {got}"),
    ] = "gpt-realtime-2.1"
    # Reasoning models only (gpt-realtime-2 and later). Each step up thinks longer before
    # the first word; on the phone that pause is heard, so the default is the shortest.
    reasoning_effort: Annotated[ReasoningEffort, rules.one_of(ReasoningEffort)] = "minimal"
    enable_realtime: Annotated[StrictBool, WrapValidator(rules.boolean)] = True
    audio_format: Annotated[AudioFormat, rules.one_of(AudioFormat)] = "pcm16"
    resampler: Annotated[ResamplerMethod, rules.one_of(ResamplerMethod)] = "fir"
    openai_voice: Annotated[Voice | None, rules.one_of(Voice)] = None  # None: the template's
    transcription_model: Annotated[
        str,
        StringConstraints(pattern=_MODEL_NAME),
        rules.worded("must be a model name such as gpt-realtime-whisper, got {got}"),
    ] = Field(default="gpt-realtime-whisper", validation_alias="OPENAI_TRANSCRIPTION_MODEL")
    turn_detection: Annotated[TurnDetectionKind, rules.one_of(TurnDetectionKind)] = "semantic_vad"
    vad_eagerness: Annotated[Eagerness, rules.one_of(Eagerness)] = "low"
    vad_silence_ms: Annotated[int, rules.between(200, 5000)] = 1000
    vad_threshold: Annotated[float, rules.between(0, 1, what="a number between 0 and 1")] = 0.6
    max_call_seconds: Annotated[int, rules.between(120, 14400)] = 1800
    # A model silent this long is pinged, and dropped (then reopened) if it does not answer
    # within as long again: a half-open connection is noticed in 2-2.5 times this.
    model_silence_s: Annotated[
        float, rules.between(0.2, 60, what="a number of seconds between 0.2 and 60")
    ] = 5.0
    # Simultaneous calls one worker process takes before it answers "busy"; 0: no cap.
    # Unset, it follows AUDIO_FORMAT (CALLS_PER_WORKER).
    max_calls_per_worker: Annotated[int, rules.between(0, 10_000, hint="0 for no cap")] = (
        CALLS_PER_WORKER["pcm16"]
    )
    redact_transcripts: Annotated[StrictBool, WrapValidator(rules.boolean)] = False
    cost_alert_usd: Annotated[Decimal, WrapValidator(rules.positive_amount)] = Decimal(5)
    twilio_account_sid: Annotated[
        _AccountSid | None, rules.worded("must be 'AC' followed by 32 hex digits")
    ] = None
    twilio_auth_token: Annotated[
        Secret | None,
        rules.secret_rule(r"[0-9a-fA-F]{32}", "must be 32 hex digits (the Twilio auth token)"),
    ] = None
    twilio_api_url: Annotated[str, rules.url("https", "http")] = "https://api.twilio.com"
    twilio_number_type: Annotated[NumberType, rules.one_of(NumberType)] = "local"
    # The recruiter API: requests per key per minute, the first webhook retry's delay
    # (doubling after each failure, for up to 24 h), and the least time between two planned
    # attempts of one interview.
    api_rate_limit: Annotated[int, rules.between(1, 1_000_000)] = 600
    webhook_retry_ms: Annotated[int, rules.between(100, 3_600_000)] = 30_000
    interview_retry_minutes: Annotated[int, rules.between(5, 10_080)] = 120
    # The ops console: a session unused this long is signed out, and how often its live
    # page asks the database for new turns where change streams are missing.
    ops_idle_minutes: Annotated[int, rules.between(1, 1440)] = 30
    ops_live_poll_ms: Annotated[int, rules.between(100, 60_000)] = 1000
    # The outbound dialer (off without a caller ID): Twilio's call creations per second for
    # the account, outbound calls at once across all workers, and local calling hours,
    # which may only narrow 08:00-21:00.
    twilio_from_number: Annotated[
        _E164 | None, rules.worded("must be a Twilio number in E.164 form, such as +14155550100")
    ] = None
    twilio_cps: Annotated[int, rules.between(1, 1000)] = 1
    # The do-not-call list's hash key; unset: one made once and kept in DATA_DIR.
    do_not_call_key: Annotated[
        Secret | None,
        rules.secret_rule(r"\S{32,}", "must be at least 32 characters without whitespace"),
    ] = None
    outbound_max_concurrent: Annotated[int, rules.between(1, 10_000)] = 10
    calling_hours: Annotated[tuple[str, str], WrapValidator(rules.calling_hours)] = (
        "08:00",
        "21:00",
    )
    log_level: Annotated[LogLevel, rules.one_of(LogLevel, upper=True)] = "INFO"
    host: str = "127.0.0.1"
    port: Annotated[int, rules.between(1, 65535)] = 8000
    # -- The second engine: Twilio ConversationRelay with a text model (Responses API) --
    # auto: realtime, or the relay when realtime is off or its circuit breaker is open (and
    # a live call whose model cannot be reopened is handed to the relay); realtime: never
    # the relay; relay: every call.
    interview_engine: Annotated[InterviewEngine, rules.one_of(InterviewEngine)] = "auto"
    openai_text_model: Annotated[
        str,
        StringConstraints(pattern=_MODEL_NAME),
        rules.worded("must be a model name such as gpt-4.1-mini, got {got}"),
    ] = "gpt-4.1-mini"
    openai_responses_url: Annotated[str, rules.url("https", "http")] = (
        "https://api.openai.com/v1/responses"
    )
    relay_voice: Annotated[  # None: the speech provider's default voice for the language
        str | None,
        StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,100}$"),
        rules.worded("must be a voice name such as en-US-Journey-O, got {got}"),
    ] = None
    relay_language: Annotated[  # None: the template's language
        str | None,
        StringConstraints(pattern=r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
        rules.worded("must be a language tag such as en-US, got {got}"),
    ] = None
    relay_tts_provider: Annotated[TtsProvider, rules.any_case(TtsProvider)] = "ElevenLabs"
    relay_transcription_provider: Annotated[
        TranscriptionProvider, rules.any_case(TranscriptionProvider)
    ] = "Deepgram"
    # The Realtime API's circuit breaker: this many failed connections within the window
    # open it (new calls go to the relay); after BREAKER_OPEN_S one call probes again.
    breaker_failures: Annotated[int, rules.between(1, 1000)] = 3
    breaker_window_s: Annotated[int, rules.between(1, 3600)] = 60
    breaker_open_s: Annotated[int, rules.between(1, 3600)] = 30

    @model_validator(mode="before")
    @classmethod
    def _cap_for_format(cls, data: Any) -> Any:
        """The default cap is the one measured for the audio format in use."""
        if not isinstance(data, dict) or {"max_calls_per_worker", "MAX_CALLS_PER_WORKER"} & set(
            data
        ):
            return data
        given = data.get("audio_format", data.get("AUDIO_FORMAT", "pcm16"))
        cap = CALLS_PER_WORKER.get(str(given).strip().lower())
        return data if cap is None else {**data, "max_calls_per_worker": cap}

    @field_validator("openai_text_model")
    @classmethod
    def _text_priced(cls, model: str, info: ValidationInfo) -> str:
        """The relay's model must be priced too, and ConversationRelay itself."""
        prices = info.data.get("prices")
        if isinstance(prices, PriceTable):
            try:
                prices.text(model)
                prices.relay_per_min()
            except PriceError as exc:
                raise _unpriced(exc) from None
        return model

    @field_validator("openai_realtime_model", "transcription_model")
    @classmethod
    def _priced(cls, model: str, info: ValidationInfo) -> str:
        """A model without a price would be billed as free: refuse it at start-up."""
        prices = info.data.get("prices")
        if isinstance(prices, PriceTable):
            realtime = info.field_name == "openai_realtime_model"
            try:
                (prices.realtime if realtime else prices.transcription)(model)
            except PriceError as exc:
                raise _unpriced(exc) from None
        return model

    @property
    def realtime_enabled(self) -> bool:
        return self.enable_realtime and self.openai_api_key is not None

    @property
    def twilio_signing_enabled(self) -> bool:
        return self.twilio_auth_token is not None

    @property
    def rest_enabled(self) -> bool:
        """The service can end calls through Twilio's REST API, after a goodbye said there."""
        return self.twilio_account_sid is not None and self.twilio_auth_token is not None

    def model_warnings(self) -> list[str]:
        """Configured models whose shutdown the provider has announced (prices data)."""
        warnings = []
        for name, model in (
            ("OPENAI_REALTIME_MODEL", self.openai_realtime_model),
            ("OPENAI_TRANSCRIPTION_MODEL", self.transcription_model),
        ):
            shutdown = self.prices.shutdown(model)
            if shutdown is not None:
                warnings.append(
                    f"{name}={model} is announced to stop working on {shutdown.isoformat()}; "
                    "choose a current model (see README)"
                )
        return warnings

    def disabled_features(self) -> list[str]:
        """Human-readable list of features that stay off, and which variables turn them on."""
        off: list[str] = []
        if self.openai_api_key is None:
            off.append("live interviews (set OPENAI_API_KEY)")
        elif not self.enable_realtime:
            off.append("live interviews (ENABLE_REALTIME=false)")
        if self.twilio_auth_token is None:
            off.append("Twilio webhooks and media streams (set TWILIO_AUTH_TOKEN)")
        if not self.rest_enabled:
            missing = [
                name
                for name, value in (
                    ("TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                    ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                )
                if value is None
            ]
            off.append(
                "hang-ups through Twilio's REST API; calls end by closing the media stream "
                f"(set {', '.join(missing)})"
            )
        return off


def _variable(field_name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return alias if isinstance(alias, str) else field_name.upper()


class _Environment(PydanticBaseSettingsSource):
    """Each setting's variable, from the mapping or else the `.env` file, keyed by its
    name so that validation errors name the variable.

    Values are stripped and a blank one means unset, as `VAR=` lines and stray
    spaces are common in `.env` files and deployment manifests. Other variables
    are ignored: the environment holds many unrelated ones.
    """

    def __init__(self, environ: Mapping[str, str], env_file: Path | None) -> None:
        # Sources are typed for BaseSettings; this one reads only model_fields.
        super().__init__(cast(Any, Settings))
        values: dict[str, str | None] = {}
        if env_file is not None and env_file.is_file():
            # No ${VAR} interpolation: it would read os.environ, not the mapping given.
            values.update(dotenv_values(env_file, interpolate=False))
        values.update(environ)
        self.values = {k: v.strip() for k, v in values.items() if v is not None and v.strip()}
        self.problems: list[str] = []

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = _variable(field_name, field)
        return self.values.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        # prices is made from two variables, PRICES_FILE and PRICE_OVERRIDES.
        found: dict[str, Any] = {"prices": self._prices()}
        for field_name, field in self.settings_cls.model_fields.items():
            if field_name != "prices":
                value, name, _ = self.get_field_value(field, field_name)
                if value is not None:
                    found[name] = value
        return found

    def _prices(self) -> PriceTable:
        """The packaged prices with PRICES_FILE and PRICE_OVERRIDES (JSON) laid over them."""
        file_name = self.values.get("PRICES_FILE")
        path = Path(file_name) if file_name else None
        if path is not None and not path.is_file():
            self.problems.append(f"PRICES_FILE: no such file {file_name!r}")
            path = None
        overrides = None
        if (text := self.values.get("PRICE_OVERRIDES")) is not None:
            try:
                overrides = json.loads(text)
            except ValueError:
                overrides = None
            if not isinstance(overrides, dict):
                self.problems.append("PRICE_OVERRIDES: must be a JSON object")
                overrides = None
        try:
            return load_prices(path, overrides)
        except PriceError as exc:
            name = "PRICE_OVERRIDES" if overrides is not None else "PRICES_FILE"
            self.problems.append(f"{name}: {'; '.join(str(exc).splitlines())}")
            return load_prices()


def _problem(error: ErrorDetails) -> str:
    name = error["loc"][0] if error["loc"] else "settings"
    return f"{name}: {error['msg']}"


def load_settings(environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> Settings:
    """Build validated settings; the environment wins over the `.env` file.

    Raises ConfigError listing every bad variable, so one start-up shows them all.
    """
    source = _Environment(environ, env_file)
    try:
        settings = Settings.model_validate(source())
    except ValidationError as exc:
        raise ConfigError(source.problems + [_problem(e) for e in exc.errors()]) from None
    if source.problems:
        raise ConfigError(source.problems)
    return settings
