"""OpenAI's side of a Realtime API WebSocket (GA shape only), for driving the bridge in tests.

The peer is strict the way the GA API is: unknown or beta-shaped client events and session
fields are answered with `error` events and recorded in `errors`, so a test can assert the
client made no protocol mistake. It also behaves like the service: an energy VAD driven by the
audio position (not the wall clock, so tests are deterministic) emits speech_started/stopped,
commits the turn and auto-creates a response; a barge-in cancels the running response on the
server side; responses stream audio in realistic chunks at a multiple of real time, and every
response.done carries usage that re-bills the whole conversation, with cached tokens.

What the "model" says is a `Script` the test writes; it is consumed across reconnections.
Everything the peer records is announced on `RealtimePeer.changed` (see tests/support/waiting).

Modules: server (the socket and its handshake), connection (one socket: the event log and
dispatch), session (session.update), input_audio (the input buffer, transcription), vad
(turn detection), items (conversation items), responses (responses and cancels), billing
(usage and cached tokens), fields (field checks shared by session and response), audio
(G.711, PCM, the voiced tone), protocol (event and field names, defaults), records (what is
kept per item and response), script (what the model says).
"""

from tests.support.openai.audio import ULAW_DECODE, decode_samples, ulaw_encode
from tests.support.openai.connection import PeerConnection
from tests.support.openai.script import CallTool, Say, Script, Step
from tests.support.openai.server import RealtimePeer

__all__ = [
    "ULAW_DECODE",
    "CallTool",
    "PeerConnection",
    "RealtimePeer",
    "Say",
    "Script",
    "Step",
    "decode_samples",
    "ulaw_encode",
]
