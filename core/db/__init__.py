"""The database engine, the base model, column types and the platform's own tables."""
