"""The composition root: settings, logging, the command line, the server, the app factory
that mounts every face, health and capacity, and the services built once from the settings.

Nothing outside this package reads the environment.
"""
