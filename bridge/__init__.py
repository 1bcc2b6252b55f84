"""One live call: Twilio media messages, the audio path, the Realtime client, the session."""
