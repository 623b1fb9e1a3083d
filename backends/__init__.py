"""Backends talk to the world; ``backends.base`` holds the contracts they implement."""
