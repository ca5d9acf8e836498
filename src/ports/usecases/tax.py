"""Tax reporting for payouts (DOMAIN.md §8): the 1099-MISC export and withholding remittances.

A 1099-MISC record per winner per tax year comes from completed, not returned payouts (box 3 other income = the
gross reward, box 4 = federal tax withheld). The export shows the TIN masked: the filing service is given the full
number from the sealed column by an operator, not through a CSV that travels by email.
"""

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.ledger import Account, withholding_remitted
from domain.money import Money
from domain.payouts import form_1099_records
from domain.tax import TinType, masked
from ports.outbound.errors import ConflictError
from ports.outbound.payouts import RemittanceRecord
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, Refused
from ports.usecases.payouts import require_finance
from ports.usecases.spreadsheet import cell

FIRST_TAX_YEAR = 2000
CSV_COLUMNS = (
    "tax_year",
    "recipient_account_id",
    "recipient_name",
    "tin_type",
    "tin",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zip",
    "box3_other_income",
    "box4_federal_tax_withheld",
    "payout_ids",
)


def _dollars(money: Money) -> str:
    return f"{money.cents // 100}.{money.cents % 100:02d}"


async def form_1099_csv(deps: Deps, principal: Principal, tax_year: int) -> str:
    """The year's 1099-MISC records as CSV (finance only; audited)."""
    require_finance(principal)
    now = deps.clock.now()
    if not FIRST_TAX_YEAR <= tax_year <= now.year:
        raise InvalidInput(f"the tax year is between {FIRST_TAX_YEAR} and {now.year}", ["tax_year_invalid"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    async with deps.uow() as uow:
        payouts = await uow.payouts.completed_in(tax_year)
        records = form_1099_records(payouts, deps.rules.history)
        for record in records:
            form = await uow.payouts.tax_form(UUID(max(record.payout_ids)))
            address = form.address if form else None
            writer.writerow(
                cell(value)
                for value in (
                    record.tax_year,
                    record.person_id,
                    form.legal_name if form else "",
                    form.tin_type if form else "",
                    masked(TinType(form.tin_type), form.tin_last4) if form else "MISSING",
                    address.line1 if address else "",
                    (address.line2 or "") if address else "",
                    address.city if address else "",
                    address.region if address else "",
                    address.postal_code if address else "",
                    _dollars(record.other_income),
                    _dollars(record.federal_tax_withheld),
                    " ".join(record.payout_ids),
                )
            )
        await record_audit(
            uow,
            entity_type="tax_export",
            entity_id=str(tax_year),
            actor=str(principal.account_id),
            action="form_1099_exported",
            at=now,
            after={"records": len(records)},
        )
        await uow.commit()
    return out.getvalue()


@dataclass(frozen=True, slots=True, kw_only=True)
class Remittance:
    record: RemittanceRecord
    withholding_payable_after: Money


async def record_remittance(
    deps: Deps, principal: Principal, *, tax_year: int, amount_cents: int, reference: str, remitted_at: datetime
) -> Remittance:
    """Finance records backup withholding paid to the IRS: Dr withholding_payable / Cr cash, once per reference."""
    require_finance(principal)
    now = deps.clock.now()
    reference = reference.strip()
    problems = []
    if not reference or len(reference) > 128:
        problems.append("reference_invalid")
    if amount_cents <= 0:
        problems.append("amount_invalid")
    if not FIRST_TAX_YEAR <= tax_year <= now.year:
        problems.append("tax_year_invalid")
    if remitted_at > now:
        problems.append("remitted_at_in_future")
    if problems:
        raise InvalidInput("the remittance was refused", problems)
    currency = deps.rules.in_force(now).reward.currency
    amount = Money(cents=amount_cents, currency=currency)
    async with deps.uow() as uow:
        await uow.payouts.lock_program()  # remittances one at a time: two cannot both pass the "owed" check
        owed = await uow.ledger.balance(Account.WITHHOLDING_PAYABLE, currency)
        if amount > owed:
            raise Refused("that is more than the withholding owed", ["exceeds_withholding_payable"])
        record = RemittanceRecord(
            id=deps.new_id(),
            tax_year=tax_year,
            amount=amount,
            reference=reference,
            remitted_at=remitted_at,
            recorded_by=principal.account_id,
        )
        try:
            await uow.payouts.add_remittance(record)
        except ConflictError:
            raise Refused("that remittance reference is already recorded", ["duplicate_reference"]) from None
        await uow.ledger.post(withholding_remitted(remittance_id=str(record.id), amount=amount, at=now))
        await record_audit(
            uow,
            entity_type="withholding_remittance",
            entity_id=str(record.id),
            actor=str(principal.account_id),
            action="remitted",
            at=now,
            after={"tax_year": tax_year, "amount_cents": amount_cents, "reference": reference},
        )
        after = await uow.ledger.balance(Account.WITHHOLDING_PAYABLE, currency)
        await uow.commit()
    return Remittance(record=record, withholding_payable_after=after)
