"""The SQLModel table classes name exactly what the migrations build, on both backends.

The DDL comes from the migrations (version 1 is frozen); the code reads and writes
through the SQLModel classes' tables. A field added to a class without its migration
(or a migration without its field) fails here, before any query meets it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bridge.store import schema
from bridge.store.state import StateStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest, tmp_path) -> str:
    """URL of a store opened once by the bridge: every migration applied."""
    url = (f"sqlite:///{tmp_path / 'state.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_schema"))
    StateStore(url).close()
    return url


def _reflected(url: str) -> dict[str, sa.Table]:
    engine = sa.create_engine(url)
    try:
        found = sa.MetaData()
        found.reflect(engine)
        return dict(found.tables)
    finally:
        engine.dispose()


def test_every_model_table_has_the_migrated_columns_keys_and_nullability(migrated: str) -> None:
    built = _reflected(migrated)
    models = schema.LinkRow.metadata.tables
    assert set(models) == {"links", "runs", "target_limits", "resolutions", "events"}
    for name, model in models.items():
        assert name in built, f"no migration creates {name}"
        table = built[name]
        # Sets: a column added by ALTER TABLE lands last, whatever the class's order.
        assert {c.name for c in model.columns} == {c.name for c in table.columns}, name
        assert {c.name for c in model.primary_key} == {c.name for c in table.primary_key}, name
        for column in model.columns:
            if not column.primary_key:
                assert column.nullable == table.c[column.name].nullable, (name, column.name)


def test_the_store_marks_its_version_in_meta(migrated: str) -> None:
    engine = sa.create_engine(migrated)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(schema.meta.c.schema_version)).scalar_one() == \
                schema.SCHEMA_VERSION
    finally:
        engine.dispose()
