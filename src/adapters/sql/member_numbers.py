"""Allocating member numbers from the database: a sequence on PostgreSQL, an AUTOINCREMENT table on SQLite.

Both never hand out a value twice, even when the transaction that took it rolls back.
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
