"""Care quality: how fast alarms are answered and closed, against the targets the funders read."""
