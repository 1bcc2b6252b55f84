"""Protocol peers and stand-ins the tests run the service against.

openai/              OpenAI's Realtime API (GA), as strict as the real one
twilio_peer          Twilio's side of a media stream, with a handset that plays in real time
twilio_rest_peer     Twilio's REST API, the call update that hangs up
call_harness         whole calls: the service, the three peers, a caller who speaks
telephony_fixtures   the service on a real server, with signed Twilio requests
servers              an ASGI app under Hypercorn or uvicorn on 127.0.0.1
processes            the service in a process of its own, its output read as it comes
embedded             throwaway SecantusDB servers
waiting              `eventually`: waiting for what the peers report, not for a time
session_doubles      a scripted model link and a manual clock for the session core
tcp_proxy            a TCP line a test can cut
"""
