"""Alembic environment: runs with a synchronous driver against HELPLINE_DATABASE_URL."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from helpline.config import load_settings
from helpline.db import sync_url
from helpline.models import metadata
from helpline.search import SEARCH_TABLES

config = context.config


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # The search tables differ per database and are made by hand in the migrations.
    return not (type_ == "table" and name is not None and name.startswith(SEARCH_TABLES))


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or load_settings().database_url
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_object=_include,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
