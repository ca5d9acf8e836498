"""Migrations are the schema's single source of truth: they build it from empty, remove it to empty,
and agree with the ORM models (`alembic check`)."""

import asyncio

import asyncpg

from adapters.sql import migrations


async def schema_objects(url: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        sequences = {
            r[0] for r in await conn.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        }
        functions = {
            r[0]
            for r in await conn.fetch(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public'"
            )
        }
        triggers = {r[0] for r in await conn.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    finally:
        await conn.close()
    return {"tables": tables, "sequences": sequences, "functions": functions, "triggers": triggers}


async def test_upgrade_from_empty_check_and_downgrade_to_empty(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_database)
    created = await schema_objects(fresh_database)
    assert {"accounts", "memberships", "invoices", "payments", "ledger_entries", "ledger_postings"} <= created["tables"]
    assert {"audit_log", "provider_inbox", "outbox", "alembic_version"} <= created["tables"]
    assert "member_number_seq" in created["sequences"]
    assert {"ledger_entries_append_only", "audit_log_append_only", "ledger_postings_balanced"} <= created["triggers"]

    await asyncio.to_thread(migrations.check, fresh_database)  # raises on any drift

    await asyncio.to_thread(migrations.downgrade, fresh_database, "base")
    emptied = await schema_objects(fresh_database)
    assert emptied["tables"] <= {"alembic_version"}
    assert emptied["sequences"] == set()
    assert emptied["functions"] == set()
    assert emptied["triggers"] == set()

    await asyncio.to_thread(migrations.upgrade, fresh_database)  # and back up again
    assert (await schema_objects(fresh_database))["tables"] == created["tables"]


def test_migrations_have_one_head() -> None:
    assert migrations.head_revision()
