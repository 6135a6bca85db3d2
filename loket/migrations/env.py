"""Alembic environment: migrations run on the connection loket hands over."""

from alembic import context

from loket.core.migrate import declared
from loket.core.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run with the connection passed in ``config.attributes["connection"]``."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      include_object=declared)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
