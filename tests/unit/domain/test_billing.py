"""Billing: due dates from the anchor, per-invoice grace, past-due status, cure, default sweep, late truth."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.billing import (
    BillingStatus,
    DefaultAction,
    DefaultReason,
    Invoice,
    billing_status,
    default_decision,
    default_was_justified,
    dues_due_at,
    dues_schedule,
    grace_ends_at,
    grace_start,
    invoice_grace,
    next_due_after,
    period_index,
    status_event,
)
from domain.errors import InvalidDate, NaiveDatetime
from domain.membership import LatePaymentAction, MembershipEvent, MembershipState, late_payment_decision
from domain.rules import ProgramRules, RulesHistory

S = MembershipState
RULES = ProgramRules()
HISTORY = RulesHistory.of(RULES)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def invoice(due: datetime, **kw: object) -> Invoice:
    return Invoice(invoice_id=kw.pop("invoice_id", "in_1"), rules_version=1, due_at=due, **kw)  # type: ignore[arg-type]


class TestSchedule:
    def test_acceptance_jan_31_anchor(self) -> None:
        anchor = utc(2025, 1, 31, 9, 30)
        assert [d.date().isoformat() for d in dues_schedule(anchor, 3)] == [
            "2025-02-28",
            "2025-03-31",
            "2025-04-30",
        ]
        assert dues_due_at(anchor, 1) == utc(2025, 2, 28, 9, 30)

    def test_first_dues_one_month_after_joining(self) -> None:
        with pytest.raises(InvalidDate):
            dues_due_at(utc(2025, 1, 1), 0)

    def test_naive_anchor_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            dues_due_at(datetime(2025, 1, 1), 1)

    def test_period_and_next_due(self) -> None:
        anchor = utc(2025, 1, 31, 9)
        assert period_index(anchor, utc(2025, 2, 1)) == 0
        assert period_index(anchor, utc(2025, 2, 28, 9)) == 1
        assert next_due_after(anchor, utc(2025, 2, 28, 9)) == utc(2025, 3, 31, 9)
        assert next_due_after(anchor, utc(2025, 2, 28, 8)) == utc(2025, 2, 28, 9)
        assert next_due_after(anchor, utc(2025, 1, 1)) == utc(2025, 2, 28, 9)

    @given(
        anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
        count=st.integers(min_value=1, max_value=60),
    )
    def test_schedule_never_drifts(self, anchor: datetime, count: int) -> None:
        schedule = dues_schedule(anchor, count)
        for n, due in enumerate(schedule, start=1):
            # Expected date computed independently: target month by index arithmetic, day clamped explicitly.
            year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + n, 12)
            last_day = monthrange(year, month0 + 1)[1]
            expected = anchor.replace(year=year, month=month0 + 1, day=min(anchor.day, last_day))
            assert due == expected
        assert list(schedule) == sorted(set(schedule))


class TestInvoiceGrace:
    due = utc(2025, 3, 1, 9)

    def test_no_attempt_grace_starts_24h_after_due(self) -> None:
        inv = invoice(self.due)
        assert grace_start(inv, RULES) == self.due + timedelta(hours=24)
        assert grace_ends_at(inv, RULES) == self.due + timedelta(hours=24) + timedelta(days=30)

    def test_failed_attempt_starts_grace_early(self) -> None:
        inv = invoice(self.due, first_failed_at=self.due + 2 * HOUR)
        assert grace_start(inv, RULES) == self.due + 2 * HOUR

    def test_late_failure_does_not_delay_grace(self) -> None:
        inv = invoice(self.due, first_failed_at=self.due + 40 * HOUR)
        assert grace_start(inv, RULES) == self.due + 24 * HOUR

    def test_full_reversal_starts_grace_at_reversal(self) -> None:
        refunded = self.due + 10 * DAY
        inv = invoice(self.due, paid_at=self.due, reversed_at=refunded)
        assert grace_start(inv, RULES) == refunded
        assert inv.unpaid_at(refunded)
        assert not inv.unpaid_at(refunded - timedelta(seconds=1))

    def test_reversal_requires_payment(self) -> None:
        with pytest.raises(InvalidDate):
            invoice(self.due, reversed_at=self.due)
        with pytest.raises(InvalidDate):
            invoice(self.due, paid_at=self.due, reversed_at=self.due - HOUR)

    def test_uses_the_invoice_rules_version(self) -> None:
        v2 = ProgramRules(version=2, effective_at=utc(2025, 2, 1), grace_days=10, invoice_unpaid_after_hours=1)
        history = RulesHistory.of(RULES, v2)
        old = Invoice(invoice_id="old", rules_version=1, due_at=self.due)
        new = Invoice(invoice_id="new", rules_version=2, due_at=self.due)
        assert invoice_grace(old, history).grace_ends_at == self.due + 24 * HOUR + 30 * DAY
        assert invoice_grace(new, history).grace_ends_at == self.due + HOUR + 10 * DAY

    def test_instants_normalised(self) -> None:
        with pytest.raises(NaiveDatetime):
            Invoice(invoice_id="x", rules_version=1, due_at=datetime(2025, 1, 1))


class TestStatus:
    due = utc(2025, 3, 1, 9)

    def test_not_past_due_before_grace_start(self) -> None:
        status = billing_status([invoice(self.due)], HISTORY, self.due + 23 * HOUR)
        assert status == BillingStatus(past_due=False, grace_ends_at=None, overdue_invoice_ids=())

    def test_past_due_from_grace_start(self) -> None:
        status = billing_status([invoice(self.due)], HISTORY, self.due + 24 * HOUR)
        assert status.past_due
        assert status.grace_ends_at == self.due + 24 * HOUR + 30 * DAY
        assert status.overdue_invoice_ids == ("in_1",)

    def test_earliest_grace_end_wins(self) -> None:
        first = invoice(self.due, invoice_id="a")
        second = invoice(utc(2025, 4, 1, 9), invoice_id="b", first_failed_at=utc(2025, 4, 1, 9))
        at = utc(2025, 4, 2)
        status = billing_status([second, first], HISTORY, at)
        assert status.overdue_invoice_ids == ("a", "b")
        assert status.grace_ends_at == self.due + 24 * HOUR + 30 * DAY

    def test_paid_invoice_is_not_overdue(self) -> None:
        inv = invoice(self.due, first_failed_at=self.due, paid_at=self.due + 3 * DAY)
        assert billing_status([inv], HISTORY, self.due + 2 * DAY).past_due
        assert not billing_status([inv], HISTORY, self.due + 3 * DAY).past_due

    def test_status_events(self) -> None:
        past_due = BillingStatus(past_due=True, grace_ends_at=self.due, overdue_invoice_ids=("a",))
        clear = BillingStatus(past_due=False, grace_ends_at=None, overdue_invoice_ids=())
        assert status_event(S.ACTIVE, past_due) is MembershipEvent.BECOME_PAST_DUE
        assert status_event(S.PAST_DUE, clear) is MembershipEvent.CURE
        assert status_event(S.ACTIVE, clear) is None
        assert status_event(S.PAST_DUE, past_due) is None
        assert status_event(S.WON, past_due) is None

    def test_acceptance_cured_on_day_29(self) -> None:
        failed = self.due + HOUR
        inv = invoice(self.due, first_failed_at=failed, paid_at=failed + 29 * DAY)
        assert billing_status([inv], HISTORY, failed + 28 * DAY).past_due
        status = billing_status([inv], HISTORY, failed + 29 * DAY)
        assert status_event(S.PAST_DUE, status) is MembershipEvent.CURE


class TestDefaultSweep:
    due = utc(2025, 3, 1, 9)

    def decide(
        self, state: S, invoices: list[Invoice], now: datetime, **kw: bool
    ) -> tuple[DefaultAction, tuple[DefaultReason, ...]]:
        decision = default_decision(
            state=state,
            invoices=invoices,
            history=HISTORY,
            now=now,
            invoices_refreshed=kw.get("refreshed", True),
            unprocessed_provider_events=kw.get("pending", False),
        )
        return decision.action, decision.reasons

    def test_defaults_only_after_grace_end(self) -> None:
        inv = invoice(self.due)
        end = grace_ends_at(inv, RULES)
        assert self.decide(S.PAST_DUE, [inv], end) == (DefaultAction.NONE, (DefaultReason.GRACE_NOT_ENDED,))
        assert self.decide(S.PAST_DUE, [inv], end + timedelta(seconds=1)) == (
            DefaultAction.DEFAULT,
            (DefaultReason.GRACE_ENDED,),
        )

    def test_waits_for_refresh_and_provider_events(self) -> None:
        inv = invoice(self.due)
        after = grace_ends_at(inv, RULES) + HOUR
        assert self.decide(S.PAST_DUE, [inv], after, refreshed=False, pending=True) == (
            DefaultAction.WAIT,
            (DefaultReason.INVOICES_NOT_REFRESHED, DefaultReason.PROVIDER_EVENTS_PENDING),
        )
        assert self.decide(S.PAST_DUE, [inv], after, pending=True)[0] is DefaultAction.WAIT

    def test_active_with_overdue_invoice_is_also_swept(self) -> None:
        inv = invoice(self.due)
        after = grace_ends_at(inv, RULES) + HOUR
        assert self.decide(S.ACTIVE, [inv], after)[0] is DefaultAction.DEFAULT

    def test_nothing_to_do(self) -> None:
        paid = invoice(self.due, paid_at=self.due)
        far = self.due + 100 * DAY
        assert self.decide(S.PAST_DUE, [paid], far) == (DefaultAction.NONE, (DefaultReason.NOT_PAST_DUE,))
        assert self.decide(S.ACTIVE, [paid], far) == (DefaultAction.NONE, (DefaultReason.NOT_PAST_DUE,))
        assert self.decide(S.WON, [invoice(self.due)], far) == (DefaultAction.NONE, (DefaultReason.NOT_PAST_DUE,))

    def test_full_refund_restarts_grace_from_refund(self) -> None:
        refunded_at = self.due + 20 * DAY
        inv = invoice(self.due, paid_at=self.due, reversed_at=refunded_at)
        status = billing_status([inv], HISTORY, refunded_at)
        assert status.past_due
        assert status.grace_ends_at == refunded_at + 30 * DAY
        assert self.decide(S.PAST_DUE, [inv], refunded_at + 30 * DAY)[0] is DefaultAction.NONE
        assert self.decide(S.PAST_DUE, [inv], refunded_at + 31 * DAY)[0] is DefaultAction.DEFAULT


class TestLateTruth:
    due = utc(2025, 3, 1, 9)

    def test_acceptance_late_event_reinstates_or_refunds(self) -> None:
        unpaid = invoice(self.due)
        grace_end = grace_ends_at(unpaid, RULES)
        defaulted_at = grace_end + HOUR  # the sweep ran
        assert default_was_justified([unpaid], HISTORY, defaulted_at)

        # paid-at T - 1h, learnt at T + 2h: the default was wrong
        in_time = invoice(self.due, paid_at=grace_end - HOUR)
        justified = default_was_justified([in_time], HISTORY, defaulted_at)
        assert not justified
        decision = late_payment_decision(
            state=S.DEFAULTED, paid_at=grace_end - HOUR, grace_ends_at=grace_end, default_still_justified=justified
        )
        assert decision.action is LatePaymentAction.REINSTATE

        # paid-at T + 1h: stays defaulted, payment refunded
        too_late = invoice(self.due, paid_at=grace_end + HOUR)
        justified = default_was_justified([too_late], HISTORY, defaulted_at)
        assert justified
        decision = late_payment_decision(
            state=S.DEFAULTED, paid_at=grace_end + HOUR, grace_ends_at=grace_end, default_still_justified=justified
        )
        assert decision.action is LatePaymentAction.REFUND

    def test_another_unpaid_invoice_keeps_the_default(self) -> None:
        first = invoice(self.due, invoice_id="a", paid_at=self.due + DAY)
        second = invoice(utc(2025, 2, 1, 9), invoice_id="b")
        defaulted_at = grace_ends_at(second, RULES) + HOUR
        assert default_was_justified([first, second], HISTORY, defaulted_at)

    def test_invoice_whose_grace_had_not_ended_does_not_justify(self) -> None:
        inv = invoice(self.due)
        assert not default_was_justified([inv], HISTORY, grace_ends_at(inv, RULES))

    @given(paid_offset_s=st.integers(min_value=-40 * 86_400, max_value=40 * 86_400))
    def test_default_justified_iff_paid_after_grace(self, paid_offset_s: int) -> None:
        unpaid = invoice(self.due)
        grace_end = grace_ends_at(unpaid, RULES)
        paid_at = grace_end + timedelta(seconds=paid_offset_s)
        inv = invoice(self.due, paid_at=paid_at)
        assert default_was_justified([inv], HISTORY, grace_end + 100 * DAY) is (paid_offset_s > 0)
