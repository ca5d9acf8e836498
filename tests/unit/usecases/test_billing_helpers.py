"""Small pure pieces of the billing use cases: event kinds, dues matching, history cursors, the dunning check."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from domain.membership import PaymentKind
from domain.money import Money
from domain.rules import ProgramRules
from ports.outbound.billing import PaymentHistoryItem
from ports.outbound.payments import DunningSettings
from ports.usecases.billing_sync import dues_period
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput
from ports.usecases.memberships import _decode_cursor, _encode_cursor
from ports.usecases.payment_events import check_provider_dunning, kind_of
from ports.usecases.rules_book import RulesBook


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("checkout.session.completed", "checkout.session"),
        ("checkout.session.expired", "checkout.session"),
        ("invoice.paid", "invoice"),
        ("invoice.payment_action_required", "invoice"),
        ("customer.subscription.deleted", "subscription"),
        ("charge.refunded", "charge"),
        ("charge.dispute.closed", "dispute"),
        ("charge.refund.updated", "refund"),
        ("payment_intent.succeeded", "payment_intent"),
    ],
)
def test_each_event_type_names_the_object_it_is_about(event_type: str, kind: str) -> None:
    assert kind_of(event_type) == kind


ANCHOR = datetime(2025, 1, 31, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "n"),
    [
        (datetime(2025, 2, 28, 9, 30, tzinfo=UTC), 1),  # clamped: the provider's date and ours agree
        (datetime(2025, 2, 28, 8, 0, tzinfo=UTC), 1),  # finalised a little early
        (datetime(2025, 3, 1, 10, 30, tzinfo=UTC), 1),  # a little late
        (datetime(2025, 3, 31, 9, 30, tzinfo=UTC), 2),
        (datetime(2025, 4, 30, 9, 30, tzinfo=UTC), 3),
        (datetime(2025, 2, 1, 0, 0, tzinfo=UTC), 1),  # never period 0: that one the joining fee paid
    ],
)
def test_a_provider_invoice_is_matched_to_the_nearest_anchor_month(due: datetime, n: int) -> None:
    assert dues_period(ANCHOR, due) == n


def test_history_cursors_round_trip_and_refuse_anything_else() -> None:
    item = PaymentHistoryItem(
        payment_id=uuid.uuid4(),
        membership_id=uuid.uuid4(),
        purpose=PaymentKind.DUES,
        amount=Money(cents=2_500),
        refunded=Money(cents=0),
        paid_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        period_index=1,
        provider_invoice_id="in_1",
        receipt_url=None,
    )
    assert _decode_cursor(_encode_cursor(item)) == (item.paid_at, item.payment_id)
    for bad in ("x", "bm90IGEgY3Vyc29y", _encode_cursor(item)[:-3] + "!!!"):
        with pytest.raises(InvalidInput):
            _decode_cursor(bad)


@dataclass
class Dunning:
    """The provider's automatic collection as the operator stated it (an external system's settings)."""

    settings: DunningSettings

    async def dunning_settings(self) -> DunningSettings:
        return self.settings


def deps_with(settings: DunningSettings, grace_days: int = 30) -> Deps:
    return Deps(
        uow=lambda: None,  # type: ignore[arg-type,return-value]
        tasks=None,  # type: ignore[arg-type]
        clock=None,  # type: ignore[arg-type]
        payments=Dunning(settings),  # type: ignore[arg-type]
        rules=RulesBook.of(ProgramRules(grace_days=grace_days)),
    )


@pytest.mark.parametrize("action", ["past_due", "mark_unpaid"])
async def test_dunning_that_leaves_the_subscription_alone_is_safe(action: str) -> None:
    assert await check_provider_dunning(deps_with(DunningSettings(retry_window_days=3, terminal_action=action))) == ""


async def test_dunning_that_cancels_must_outlast_grace() -> None:
    with pytest.raises(RuntimeError, match="at least 32 days"):
        await check_provider_dunning(deps_with(DunningSettings(retry_window_days=31, terminal_action="cancel")))
    with pytest.raises(RuntimeError):
        await check_provider_dunning(deps_with(DunningSettings(retry_window_days=None, terminal_action="cancel")))
    assert (
        await check_provider_dunning(deps_with(DunningSettings(retry_window_days=32, terminal_action="cancel"))) == ""
    )
    assert (
        await check_provider_dunning(
            deps_with(DunningSettings(retry_window_days=12, terminal_action="cancel"), grace_days=10)
        )
        == ""
    )


async def test_unstated_dunning_is_a_warning_not_a_refusal() -> None:
    warning = await check_provider_dunning(
        deps_with(DunningSettings(retry_window_days=None, terminal_action="unknown"))
    )
    assert "not stated" in warning
