"""Protocol peers and stand-ins the tests run the service against."""
