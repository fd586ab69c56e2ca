"""Alarms: their lifecycle, merging of repeats and the audit trail."""
