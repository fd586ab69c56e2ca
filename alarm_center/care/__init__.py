"""Proactive care: what the centre does for a resident besides answering the button."""
