from alembic import context

from aims.persistence.db import make_engine
from aims.persistence.models import Base

url = context.config.get_main_option("sqlalchemy.url")
# An engine of its own, thrown away after: on SQLite, foreign keys are off while migrating (a
# batch migration rebuilds a table by dropping it, and ON DELETE CASCADE would empty its children).
engine = make_engine(url)
try:
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
