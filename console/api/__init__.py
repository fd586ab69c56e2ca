"""The console's JSON API, one module per concern."""
