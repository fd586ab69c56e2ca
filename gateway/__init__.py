"""The gateway: takes band messages from the broker, judges them, commits them, then acks."""
