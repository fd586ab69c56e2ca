"""Reports for the municipalities that pay for the service: figures only, never personal data."""
