"""Allocating member numbers from the database: a sequence on PostgreSQL, an AUTOINCREMENT table on SQLite.

Neither ever hands out a number that a committed transaction took, so no two memberships share one.
PostgreSQL may leave gaps (a rolled-back transaction's number is skipped); SQLite's counter is
transactional, so a rolled-back number, which no membership ever held, is handed out again.
"""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SQLITE_ALLOCATIONS_TABLE = "member_number_allocations"


async def next_member_number(session: AsyncSession) -> int:
    if session.bind.dialect.name == "sqlite":
        result = await session.execute(text("INSERT INTO member_number_allocations DEFAULT VALUES RETURNING number"))
    else:
        result = await session.execute(text("SELECT nextval('member_number_seq')"))
    return int(result.scalar_one())
