"""The schema as a whole: every model registered for Alembic, and the migrations run."""
