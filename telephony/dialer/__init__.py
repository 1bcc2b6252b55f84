"""The outbound dialer: places scheduled interviews' calls through Twilio's REST API, in the
candidate's local hours, paced across workers, and settles each attempt by its outcome."""
