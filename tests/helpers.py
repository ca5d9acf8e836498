"""Small helpers shared by the integration and end-to-end tests."""

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from domain.ledger import Account, payment_received, split_payment
from domain.money import Money
from ports.usecases.deps import Deps


async def eventually(predicate: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0, what: str = "") -> None:
    """Poll `predicate` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    """A loopback port nothing listens on (the OS picked it free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def fund_to(deps: Deps, target_cents: int, at: datetime) -> Money:
    """Post the program's earlier member payments (one history payment) so the fund holds ``target_cents``; the
    fund's balance after. A fixture: a real $100,000 fund would take hundreds of checkouts."""
    rules = deps.rules.in_force(at)
    async with deps.uow() as uow:
        fund = await uow.ledger.balance(Account.FUND)
        missing = Money(cents=target_cents - fund.cents, currency=fund.currency)
        if missing.is_positive:
            split = split_payment(missing, rules)  # fund_share_bps is 100% by default: all of it reaches the fund
            await uow.ledger.post(payment_received(invoice_id=f"in_history_{uuid.uuid4().hex}", split=split, at=at))
        await uow.commit()
        return await uow.ledger.balance(Account.FUND)
