"""Storage: engine, base model, column types and migrations."""
