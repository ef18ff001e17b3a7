from alembic import context

from aims.persistence.db import engine_for
from aims.persistence.models import Base

url = context.config.get_main_option("sqlalchemy.url")
with engine_for(url).begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
