"""`python -m tests.browser.seed_fund CENTS`: post the program's earlier member payments into the ledger of the
service the browser tests run (its settings from the environment) until the fund holds CENTS. A test fixture:
a real fund of $100,000 would take hundreds of sandbox checkouts."""

import asyncio
import sys
import uuid

from domain.ledger import Account, payment_received, split_payment
from domain.money import Money
from entrypoints.bootstrap import build_container
from entrypoints.settings import load_settings


async def seed(target_cents: int) -> int:
    container = build_container(load_settings())
    deps = container.deps
    try:
        now = deps.clock.now()
        async with deps.uow() as uow:
            fund = await uow.ledger.balance(Account.FUND)
            missing = Money(cents=target_cents - fund.cents, currency="USD")
            if missing.is_positive:
                split = split_payment(missing, deps.rules.in_force(now))
                await uow.ledger.post(
                    payment_received(invoice_id=f"in_history_{uuid.uuid4().hex}", split=split, at=now)
                )
            await uow.commit()
            return (await uow.ledger.balance(Account.FUND)).cents
    finally:
        await container.engine.dispose()


if __name__ == "__main__":
    print(asyncio.run(seed(int(sys.argv[1]))))
