"""The kernel every floor stands on: clock, settings, health, logs, start-up checks, the database
engine and its shared tables, the MQTT client. It imports nothing of opaska's own above it."""
