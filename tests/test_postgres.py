"""The real PostgreSQL the state store is tested against answers, isolated per test schema."""

from __future__ import annotations

import sqlalchemy as sa


def test_postgres_schema_fixture_is_isolated_and_writable(postgres_schema: str) -> None:
    engine = sa.create_engine(postgres_schema)
    try:
        with engine.begin() as conn:
            schema = conn.execute(sa.text("select current_schema()")).scalar_one()
            assert schema.startswith("t_")
            conn.execute(sa.text("create table probe (id int primary key)"))
            conn.execute(sa.text("insert into probe values (1), (2)"))
            assert conn.execute(sa.text("select count(*) from probe")).scalar_one() == 2
    finally:
        engine.dispose()
