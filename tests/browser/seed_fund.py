"""`python -m tests.browser.seed_fund CENTS`: post the program's earlier member payments into the ledger of the
service the browser tests run (its settings from the environment) until the fund holds CENTS. A test fixture:
a real fund of $100,000 would take hundreds of sandbox checkouts."""

import asyncio
import sys

from entrypoints.bootstrap import build_container
from entrypoints.settings import load_settings
from tests.helpers import fund_to


async def seed(target_cents: int) -> int:
    container = build_container(load_settings())
    try:
        return (await fund_to(container.deps, target_cents, container.deps.clock.now())).cents
    finally:
        await container.engine.dispose()


if __name__ == "__main__":
    print(asyncio.run(seed(int(sys.argv[1]))))
