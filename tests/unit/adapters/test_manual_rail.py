"""The manual rail records finance's own transfer by reference, never opening an account number."""

from dataclasses import replace
from pathlib import Path
from uuid import uuid4

import pytest

from adapters.rails.manual import ManualTransferRail
from adapters.rails.nacha import NachaFileRail
from adapters.security.crypto import AesGcmSecretBox, derive_key
from domain.checkout import PostalAddress
from domain.money import Money
from ports.outbound.payout_rail import PayoutMethod, RailRefused, Transfer, TransferSubmitted, account_context
from tests.fakes import FakeClock

BOX = AesGcmSecretBox(derive_key("a-test-secret-key-that-is-long-enough-0123456789", "payout-accounts"))


def ach() -> Transfer:
    payout_id = uuid4()
    return Transfer(
        payout_id=payout_id,
        attempt=2,
        amount=Money(cents=10_000_000),
        method=PayoutMethod.ACH,
        payee_name="Ada Lovelace",
        routing_number="021000021",
        account_type="checking",
        sealed_account_number=BOX.seal(b"000123456789", context=account_context(payout_id)),
    )


def cheque() -> Transfer:
    return Transfer(
        payout_id=uuid4(),
        attempt=1,
        amount=Money(cents=10_000_000),
        method=PayoutMethod.CHEQUE,
        payee_name="Ada Lovelace",
        mailing_address=PostalAddress(
            line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US"
        ),
    )


async def test_ach_and_cheque_transfers_are_recorded_with_finance_reference() -> None:
    rail = ManualTransferRail()
    transfers = [ach(), cheque()]

    submitted = await rail.submit(transfers, actor="finance:1", reference="  WIRE-2026-0042 ")

    assert rail.name == "manual"
    assert submitted == [
        TransferSubmitted(payout_id=t.payout_id, attempt=t.attempt, rail="manual", reference="WIRE-2026-0042")
        for t in transfers
    ]


@pytest.mark.parametrize("reference", [None, "", "   "])
async def test_a_reference_is_required(reference: str | None) -> None:
    with pytest.raises(RailRefused, match="reference"):
        await ManualTransferRail().submit([cheque()], actor="finance:1", reference=reference)


async def test_an_empty_submission_is_refused() -> None:
    with pytest.raises(RailRefused, match="no transfers"):
        await ManualTransferRail().submit([], actor="finance:1", reference="CHQ-1001")


async def test_sealed_account_numbers_are_never_opened() -> None:
    unopenable = replace(ach(), sealed_account_number=b"not a sealed value")

    submitted = await ManualTransferRail().submit([unopenable], actor="finance:1", reference="WIRE-7")

    assert [s.payout_id for s in submitted] == [unopenable.payout_id]


async def test_a_cheque_refused_by_nacha_is_accepted_by_manual(tmp_path: Path) -> None:
    nacha = NachaFileRail(
        box=BOX,
        export_dir=tmp_path / "ach",
        immediate_destination="011000015",
        immediate_origin="1123456789",
        destination_name="Bank",
        origin_name="Tenure",
        company_name="Tenure",
        company_id="1123456789",
        originating_dfi="01100001",
        clock=FakeClock(),
    )
    transfer = cheque()

    with pytest.raises(RailRefused, match="ACH only"):
        await nacha.submit([transfer], actor="finance:1")
    submitted = await ManualTransferRail().submit([transfer], actor="finance:1", reference="CHQ-1001")

    assert [(s.payout_id, s.rail, s.reference, s.trace_number) for s in submitted] == [
        (transfer.payout_id, "manual", "CHQ-1001", None)
    ]
