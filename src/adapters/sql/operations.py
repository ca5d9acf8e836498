"""The operational readings in a handful of aggregate statements (each an index or a small table read)."""

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from domain.ledger import Account, normal_balance
from domain.payouts import PayoutStatus
from ports.outbound.operations import OpenPayouts, OperationalReadings, RoundSummary

FINAL_PAYOUT_STATUSES = (PayoutStatus.COMPLETED, PayoutStatus.CANCELLED)


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


class SqlOperationalReadings:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def read(self, *, now: datetime, money_kind: str) -> OperationalReadings:
        inbox = models.InboxMessage
        waiting = (
            await self._session.execute(
                select(inbox.provider, func.count(), func.min(inbox.received_at))
                .where(inbox.processed_at.is_(None))
                .group_by(inbox.provider)
            )
        ).all()
        runs = models.ReconciliationRun
        reconciled = (
            await self._session.execute(
                select(runs.kind, func.max(runs.finished_at)).where(runs.ok).group_by(runs.kind)
            )
        ).all()
        drift = await self._session.scalar(
            select(runs.drift_cents).where(runs.kind == money_kind).order_by(runs.finished_at.desc()).limit(1)
        )
        fund_debits = await self._session.scalar(
            select(models.LedgerBalance.debit_balance_cents).where(
                models.LedgerBalance.account == str(Account.FUND), models.LedgerBalance.currency == "USD"
            )
        )
        last_round = await self._session.scalar(select(func.max(models.PayoutRound.evaluated_at)))
        frozen = await self._session.scalar(select(models.ProgramState.payouts_frozen).limit(1))
        payouts = models.Payout
        open_rows = (
            await self._session.execute(
                select(payouts.status, func.count(), func.min(payouts.updated_at))
                .where(payouts.status.not_in([str(s) for s in FINAL_PAYOUT_STATUSES]))
                .group_by(payouts.status)
            )
        ).all()
        return OperationalReadings(
            inbox_backlog={provider: int(n) for provider, n, _ in waiting},
            inbox_oldest_s={provider: _age(now, oldest) or 0.0 for provider, _, oldest in waiting},
            reconciliation_age_s={kind: _age(now, at) or 0.0 for kind, at in reconciled},
            money_drift_cents=int(drift or 0),
            fund_balance_cents=normal_balance(Account.FUND, int(fund_debits or 0)),
            last_round_age_s=_age(now, last_round),
            payouts_frozen=bool(frozen),
            open_payouts={
                str(status): OpenPayouts(count=int(n), oldest_unchanged_s=_age(now, oldest) or 0.0)
                for status, n, oldest in open_rows
            },
        )

    async def memberships_by_status(self) -> Mapping[str, int]:
        rows = await self._session.execute(
            select(models.Membership.status, func.count()).group_by(models.Membership.status)
        )
        return {status: int(n) for status, n in rows.all()}

    async def inflow_by_day(self, *, since: date) -> Sequence[tuple[date, int]]:
        days = models.FundInflowDay
        rows = await self._session.execute(
            select(days.day, days.cents).where(days.day >= since, days.currency == "USD").order_by(days.day)
        )
        return [(day, int(cents)) for day, cents in rows.all()]

    async def fund_movement_by_day(self, *, since: date) -> Sequence[tuple[date, int]]:
        posting, entry = models.LedgerPosting, models.LedgerEntry
        day = func.date(entry.occurred_at)
        rows = await self._session.execute(
            select(day, func.sum(posting.amount_cents))
            .join(entry, entry.id == posting.entry_id)
            .where(
                posting.account == str(Account.FUND),
                posting.currency == "USD",
                entry.occurred_at >= datetime.combine(since, time(), tzinfo=UTC),
            )
            .group_by(day)
            .order_by(day)
        )
        return [
            (
                value if isinstance(value, date) else date.fromisoformat(str(value)),
                normal_balance(Account.FUND, int(total)),
            )
            for value, total in rows.all()
        ]

    async def recent_rounds(self, *, limit: int) -> Sequence[RoundSummary]:
        rounds = models.PayoutRound
        rows = await self._session.execute(
            select(rounds.round_key, rounds.evaluated_at, rounds.winners, rounds.reward_cents)
            .order_by(rounds.round_key.desc())
            .limit(limit)
        )
        return [
            RoundSummary(round_key=key, evaluated_at=at, winners=int(winners), reward_cents=int(reward))
            for key, at, winners, reward in rows.all()
        ]
