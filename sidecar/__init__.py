"""The sidecar: stream workers that run the engine, and the analysts' HTTP API."""
