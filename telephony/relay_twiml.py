"""The TwiML that puts a call on ConversationRelay: `<Connect><ConversationRelay>` with the
welcome greeting, voice, language, providers, barge-in and keypad settings, and the
per-call signed socket URL (like a media stream's: the token in the path, no query)."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import Connect, VoiceResponse

RELAY_PATH = "/twilio/relay"


@dataclass(frozen=True, slots=True)
class RelayVoiceSettings:
    language: str | None
    """None: the template's."""
    voice: str | None
    """None: the speech provider's default voice for the language."""
    tts_provider: str
    transcription_provider: str


def relay_twiml(
    *,
    socket_base: str,
    token: str,
    greeting: str,
    language: str,
    settings: RelayVoiceSettings,
    parameters: dict[str, str],
) -> str:
    connect = Connect()
    attributes: dict[str, str] = {
        "url": f"{socket_base}{RELAY_PATH}/{token}",
        "welcome_greeting": greeting,
        "language": settings.language or language,
        "tts_provider": settings.tts_provider,
        "transcription_provider": settings.transcription_provider,
        "interruptible": "any",
        "dtmf_detection": "true",
    }
    if settings.voice is not None:
        attributes["voice"] = settings.voice
    relay = connect.conversation_relay(**attributes)
    for name, value in parameters.items():
        relay.parameter(name=name, value=value)
    response = VoiceResponse()
    response.append(connect)
    return str(response)
