"""Voice: the operator's calls from an alarm (bridged through a conference named after it) and the
calls a band or a resident places to the centre (queued until an operator answers)."""
