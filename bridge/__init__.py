"""One live call, with no web framework and no database.

- Wire formats: `twilio_messages` (Twilio Media Streams), `realtime_events` (the OpenAI
  Realtime GA protocol), `realtime_client` (its WebSocket).
- Audio: `g711`, `resample`, `audio` (message payloads both ways).
- The call: `stream` (one media stream's protocol), `session` (the coordinator), and its
  parts: `ledger`, `playback`, `playout`, `ending`, `model_link`, `tool_calls`, `keypad`,
  `metering`, `latency`, `outcome`; `options`, `pending` (sessions opened ahead), `clock`.
- `recorder`: the interfaces through which a call is written (`persistence` implements
  them).
"""
