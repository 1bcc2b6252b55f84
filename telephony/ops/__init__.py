"""The ops console: server-rendered pages under /ops for ops people and recruiters.

Imports nothing, so its pure modules (cursors, charts, the transcript's layout) load
without Quart or the database; `mount.py` puts the pages on an app.
"""
