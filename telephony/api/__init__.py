"""The recruiter API (/api/v1): keys, interviews to schedule, templates, call records and
signed webhooks, described by the OpenAPI document at /api/v1/openapi.json.

`telephony.api.mount` puts it on an app. Importing this package loads nothing, so its logic
without I/O (planning, scheduling, phones, cursors, signing) is importable on its own."""
