"""Alembic migrations of the PostgreSQL store (run by ``timeline.pg_migrate``)."""
