"""Audit chains on PostgreSQL: appended in order, verifiable, never forked by concurrent writers."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.audit import verify_chain
from ports.outbound.errors import ConflictError
from ports.usecases.audit import record_audit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_records_chain_and_verify(make_uow: Callable[..., SqlUnitOfWork]) -> None:
    entity = str(uuid.uuid4())
    for i, role in enumerate(["member", "admin", "finance"]):
        async with make_uow() as uow:
            await record_audit(
                uow,
                entity_type="account_role",
                entity_id=entity,
                actor="cli",
                action="role_changed",
                at=T0 + timedelta(minutes=i),
                after={"role": role},
            )
            await uow.commit()
    async with make_uow() as uow:
        chain = await uow.audit.chain("account_role", entity)
    assert [link.record.seq for link in chain] == [1, 2, 3]
    assert [link.record.after["role"] for link in chain] == ["member", "admin", "finance"]
    assert verify_chain(chain).ok


async def test_concurrent_appends_never_fork_the_chain(make_uow: Callable[..., SqlUnitOfWork]) -> None:
    entity = str(uuid.uuid4())
    barrier = asyncio.Barrier(5)

    async def write(n: int) -> bool:
        async with make_uow() as uow:
            head = await uow.audit.head("account_role", entity)
            await barrier.wait()  # everyone read the same (empty) head
            try:
                await record_audit(uow, entity_type="account_role", entity_id=entity, actor=f"w{n}", action="x", at=T0)
                await uow.commit()
            except ConflictError:
                return False
            assert head is None
            return True

    results = await asyncio.gather(*(write(n) for n in range(5)))
    assert sum(results) >= 1
    async with make_uow() as uow:
        chain = await uow.audit.chain("account_role", entity)
    assert [link.record.seq for link in chain] == list(range(1, len(chain) + 1))
    assert verify_chain(chain).ok
    assert len(chain) == sum(results)


@pytest.mark.parametrize("personal", ["email", "legal_name", "date_of_birth"])
async def test_personal_fields_are_refused(make_uow: Callable[..., SqlUnitOfWork], personal: str) -> None:
    async with make_uow() as uow:
        with pytest.raises(Exception, match="personal"):
            await record_audit(
                uow, entity_type="account", entity_id="a", actor="x", action="y", at=T0, after={personal: "v"}
            )
