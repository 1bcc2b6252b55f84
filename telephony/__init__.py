"""Everything that speaks HTTP: Twilio webhooks, the media stream, the recruiter API, ops pages."""
