"""Supervision of every band: technical alarms (offline, battery low, not worn) raised and cleared
from band presence in the database."""
