"""The alarm center: turns band events into alarms, escalates them and notifies people."""
