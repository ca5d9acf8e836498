"""`/api/payout`: my payouts and their details (winner), and the staff workflow (rounds, approvals, two-person
cancellations, processing, tax, the freeze switch). A member only ever reaches their own payouts (404 otherwise);
staff routes need a staff session with a second factor, and processing needs finance with a fresh step-up."""

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.checkout import PostalAddress
from domain.payouts import PayoutStatus
from entrypoints.http.rounds import RoundOut, round_out
from entrypoints.http.schemas import MoneyOut, Problem, money_out
from ports.usecases import payout_details, payouts, program_switch, rounds, tax
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

PROBLEMS = {
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="CSRF token missing, step-up required, or not allowed for this account"),
    404: ResponseSpec(Problem, description="No such payout (or not yours)"),
    409: ResponseSpec(Problem, description="Not possible now; `problems` says why (e.g. finance_approval_missing)"),
    422: ResponseSpec(Problem, description="Well-formed but refused; `problems` lists every reason"),
}

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AddressIO(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    line1: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    line2: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    city: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    region: Annotated[str, msgspec.Meta(max_length=2)] | None = None
    postal_code: Annotated[str, msgspec.Meta(max_length=10)] | None = None
    country: Annotated[str, msgspec.Meta(max_length=2)] | None = None


def address_io(address: PostalAddress | None) -> AddressIO | None:
    if address is None:
        return None
    return AddressIO(
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        region=address.region,
        postal_code=address.postal_code,
        country=address.country,
    )


class AmountsOut(msgspec.Struct, rename="camel", kw_only=True):
    gross: MoneyOut
    withholding: MoneyOut
    retention_deduction: MoneyOut
    net: MoneyOut


class TransferOut(msgspec.Struct, rename="camel", kw_only=True):
    attempt: int
    rail: str
    destination: str
    """Without secrets: ``ach:<routing>:<last 4>:<type>`` or ``cheque:<ZIP>``."""
    amount: MoneyOut
    claimed_at: datetime
    reference: str | None
    """None: the rail never confirmed this attempt (mark it failed and retry)."""
    trace_number: str | None
    sent_at: datetime | None


class PendingCancellationOut(msgspec.Struct, rename="camel", kw_only=True):
    reason: str
    requested_by: UUID
    requested_at: datetime


class PayoutOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    round_key: date
    status: str
    """pending_approval | approved | scheduled | processing | completed | failed | returned | cancelled"""
    selected_at: datetime
    gross: MoneyOut
    amounts: AmountsOut | None
    """Frozen at the first processing; until then the net depends on the W-9 and the retention prepayment."""
    approvals: int
    finance_approved: bool
    hold_until: datetime | None
    method: str | None
    holder_name: str | None
    routing_number: str | None
    account_last4: str | None
    cheque_address: AddressIO | None
    w9_on_file: bool
    w9_certified: bool
    tin: str | None
    """Masked: only the last four digits are ever shown."""
    missing: list[str]
    info_deadline: datetime
    completed_at: datetime | None
    cancellation_reason: str | None
    membership_id: UUID | None = None
    account_id: UUID | None = None
    pending_cancellation: PendingCancellationOut | None = None
    transfers: list[TransferOut] | None = None


def payout_out(view: payout_details.PayoutView, *, staff: bool) -> PayoutOut:
    p = view.payout
    amounts = p.amounts
    pending = view.pending_cancellation
    return PayoutOut(
        id=UUID(p.payout_id),
        round_key=p.round_key,
        status=p.status.value,
        selected_at=p.selected_at,
        gross=money_out(p.gross),
        amounts=AmountsOut(
            gross=money_out(amounts.gross),
            withholding=money_out(amounts.withholding),
            retention_deduction=money_out(amounts.retention_deduction),
            net=money_out(amounts.net),
        )
        if amounts
        else None,
        approvals=len(p.approvals),
        finance_approved=any("finance" in {r.value for r in a.roles} for a in p.approvals),
        hold_until=p.hold_until,
        method=view.method.value if view.method else None,
        holder_name=view.holder_name,
        routing_number=view.routing_number,
        account_last4=view.account_last4,
        cheque_address=address_io(view.cheque_address),
        w9_on_file=view.w9_on_file,
        w9_certified=view.w9_certified,
        tin=view.tin_masked,
        missing=list(view.missing),
        info_deadline=view.info_deadline,
        completed_at=p.completed_at,
        cancellation_reason=p.cancellation.reason if p.cancellation else None,
        membership_id=UUID(p.membership_id) if staff else None,
        account_id=UUID(p.winner_person_id) if staff else None,
        pending_cancellation=PendingCancellationOut(
            reason=pending.reason, requested_by=pending.requested_by, requested_at=pending.requested_at
        )
        if pending
        else None,
        transfers=[
            TransferOut(
                attempt=t.attempt,
                rail=t.rail,
                destination=t.destination,
                amount=money_out(t.amount),
                claimed_at=t.claimed_at,
                reference=t.reference,
                trace_number=t.trace_number,
                sent_at=t.sent_at,
            )
            for t in view.transfers
        ]
        if staff
        else None,
    )


class BankAccountIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    holder_name: Text
    routing_number: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    account_number: Annotated[str, msgspec.Meta(min_length=1, max_length=24)]
    account_type: Literal["checking", "savings"]


class W9In(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    legal_name: Text
    tin: Annotated[str, msgspec.Meta(min_length=9, max_length=11)]
    tin_type: Literal["ssn", "ein"]
    address: AddressIO
    certified: bool
    """The W-9 certification ("under penalties of perjury…"); without it withholding applies."""


class MyPayoutController(Controller):
    path = "/api/payout/me"
    tags = ["payout"]

    @get("/", operation_id="listMyPayouts", responses=PROBLEMS)
    async def mine(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> list[PayoutOut]:
        return [payout_out(v, staff=False) for v in await payout_details.my_payouts(deps, principal)]

    @get("/{payout_id:uuid}", operation_id="getMyPayout", responses=PROBLEMS)
    async def one(
        self, payout_id: FromPath[UUID], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PayoutOut:
        return payout_out(await payout_details.my_payout(deps, principal, payout_id), staff=False)

    @put("/{payout_id:uuid}/bank-account", operation_id="setMyPayoutBankAccount", responses=PROBLEMS)
    async def bank_account(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[BankAccountIn],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> PayoutOut:
        """ACH details in the verified winner's name. After the first approval: step-up, approvals cleared, 72 h
        hold, and a notice on every channel."""
        view = await payout_details.submit_bank_details(
            deps,
            principal,
            payout_id,
            holder_name=data.holder_name,
            routing_number=data.routing_number,
            account_number=data.account_number,
            account_type=data.account_type,
        )
        return payout_out(view, staff=False)

    @put("/{payout_id:uuid}/cheque", operation_id="chooseMyPayoutCheque", responses=PROBLEMS)
    async def cheque(
        self, payout_id: FromPath[UUID], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PayoutOut:
        """A cheque to my profile's verified US address instead of a transfer."""
        return payout_out(await payout_details.choose_cheque(deps, principal, payout_id), staff=False)

    @put("/{payout_id:uuid}/w9", operation_id="setMyPayoutW9", responses=PROBLEMS)
    async def w9(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[W9In],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> PayoutOut:
        a = data.address
        view = await payout_details.submit_w9(
            deps,
            principal,
            payout_id,
            legal_name=data.legal_name,
            tin=data.tin,
            tin_type=data.tin_type,
            address=PostalAddress(
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                region=a.region,
                postal_code=a.postal_code,
                country=a.country,
            ),
            certified=data.certified,
        )
        return payout_out(view, staff=False)


# -- staff -------------------------------------------------------------------------------------------------------


class EvaluationOut(msgspec.Struct, rename="camel", kw_only=True):
    day: date
    outcome: str
    """round_opened | round_exists | no_eligible_member | the first blocker (too_early, frozen, …)"""
    blockers: list[str]
    fund: MoneyOut
    payout_ids: list[UUID]


class EvaluationRecordOut(msgspec.Struct, rename="camel", kw_only=True):
    evaluated_at: datetime
    triggered_by: str
    outcome: str
    blockers: list[str]
    fund: MoneyOut
    queue_size: int


class RoundDetailOut(msgspec.Struct, rename="camel", kw_only=True):
    round: RoundOut
    payouts: list[PayoutOut]


class CancelIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    """One of fraud, duplicate_identity, under_age, jurisdiction, joining_payment_reversed, unclaimed,
    declined_by_member, or not_disqualifying."""


class CancelOut(msgspec.Struct, rename="camel", kw_only=True):
    """Where a two-person action stands."""

    payout: PayoutOut
    done: bool
    """False: requested, waiting for a second staff member to confirm the same thing."""


class CorrectionIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    w9_certified: bool
    """Whether a certified W-9 should count: false withholds 24% of the gross, true withholds nothing."""


class ProcessIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    payout_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=99)]
    rail: Literal["nacha", "manual"]
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    """For the manual rail: the wire confirmation or cheque number."""


class SubmittedOut(msgspec.Struct, rename="camel", kw_only=True):
    payout_id: UUID
    attempt: int
    rail: str
    reference: str
    trace_number: str | None


class FailIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    failure: Text
    not_sent: bool = False
    """For an attempt the rail never confirmed: finance checked with the bank and nothing left."""


class SentIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class ReturnIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    return_code: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


class RemittanceIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    tax_year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    amount_cents: Annotated[int, msgspec.Meta(ge=1, le=10**12)]
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    remitted_at: Annotated[datetime, msgspec.Meta(tz=True)]


class RemittanceOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    tax_year: int
    amount: MoneyOut
    reference: str
    withholding_payable_after: MoneyOut


class SwitchIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    frozen: bool
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SwitchOut(msgspec.Struct, rename="camel", kw_only=True):
    frozen: bool
    pending_reason: str | None
    pending_requested_by: UUID | None


def switch_out(state: program_switch.SwitchState) -> SwitchOut:
    return SwitchOut(
        frozen=state.frozen,
        pending_reason=state.pending.reason if state.pending else None,
        pending_requested_by=state.pending.requested_by if state.pending else None,
    )


class PayoutAdminController(Controller):
    path = "/api/payout"
    tags = ["payout"]

    @post("/rounds/evaluate", operation_id="evaluateRoundNow", status_code=200, responses=PROBLEMS)
    async def evaluate(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> EvaluationOut:
        """Run today's evaluation now (the same one as the 00:30 UTC job; at most one round a day)."""
        result = await rounds.trigger_evaluation(deps, staff)
        return EvaluationOut(
            day=result.day,
            outcome=result.outcome,
            blockers=list(result.blockers),
            fund=money_out(result.fund),
            payout_ids=list(result.winners),
        )

    @get("/evaluations", operation_id="listEvaluations", responses=PROBLEMS)
    async def evaluations(
        self,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 30,
    ) -> list[EvaluationRecordOut]:
        return [
            EvaluationRecordOut(
                evaluated_at=e.evaluated_at,
                triggered_by=e.triggered_by,
                outcome=e.outcome,
                blockers=list(e.blockers),
                fund=money_out(e.fund),
                queue_size=e.queue_size,
            )
            for e in await rounds.evaluations(deps, staff, limit=limit)
        ]

    @get("/rounds/{round_key:date}", operation_id="getRoundPayouts", responses=PROBLEMS)
    async def round_detail(
        self, round_key: FromPath[date], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> RoundDetailOut:
        found = await rounds.published_round(deps, round_key)
        views = await payout_details.round_payouts(deps, staff, round_key)
        return RoundDetailOut(round=round_out(found), payouts=[payout_out(v, staff=True) for v in views])

    @get("/payouts", operation_id="listPayouts", responses=PROBLEMS)
    async def list_payouts(
        self,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        status: Annotated[PayoutStatus | None, QueryParameter()] = None,
        cursor: Annotated[UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> list[PayoutOut]:
        views = await payout_details.payout_list(deps, staff, status=status, after=cursor, limit=limit)
        return [payout_out(v, staff=True) for v in views]

    @get("/payouts/{payout_id:uuid}", operation_id="getPayout", responses=PROBLEMS)
    async def get_payout(
        self, payout_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PayoutOut:
        return payout_out(await payout_details.payout_detail(deps, staff, payout_id), staff=True)

    async def _view(self, deps: Deps, staff: Principal, payout_id: UUID) -> PayoutOut:
        return payout_out(await payout_details.payout_detail(deps, staff, payout_id), staff=True)

    @post("/payouts/{payout_id:uuid}/approve", operation_id="approvePayout", status_code=200, responses=PROBLEMS)
    async def approve(
        self, payout_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PayoutOut:
        """One approval: two distinct staff, at least one finance, never the winner, each once."""
        await payouts.approve(deps, staff, payout_id)
        return await self._view(deps, staff, payout_id)

    @post("/payouts/{payout_id:uuid}/cancel", operation_id="cancelPayout", status_code=200, responses=PROBLEMS)
    async def cancel(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[CancelIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> CancelOut:
        """Request a cancellation (or rejection), or confirm another staff member's request with the same reason."""
        step = await payouts.cancel(deps, staff, payout_id, data.reason)
        return CancelOut(payout=await self._view(deps, staff, payout_id), done=step.pending is None)

    @delete("/payouts/{payout_id:uuid}/cancel", operation_id="withdrawPayoutCancellation", responses=PROBLEMS)
    async def withdraw_cancel(
        self, payout_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        await payouts.withdraw_cancellation(deps, staff, payout_id)

    @post(
        "/payouts/{payout_id:uuid}/withholding-correction",
        operation_id="correctPayoutWithholding",
        status_code=200,
        responses=PROBLEMS,
    )
    async def correct_withholding(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[CorrectionIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> CancelOut:
        """Correct the frozen withholding of a failed or returned payout: one finance member requests, another
        confirms the same correction."""
        step = await payouts.correct_withholding(deps, staff, payout_id, w9_certified=data.w9_certified)
        return CancelOut(payout=await self._view(deps, staff, payout_id), done=step.pending is None)

    @post("/payouts/{payout_id:uuid}/schedule", operation_id="schedulePayout", status_code=200, responses=PROBLEMS)
    async def schedule(
        self, payout_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PayoutOut:
        await payouts.schedule(deps, staff, payout_id)
        return await self._view(deps, staff, payout_id)

    @post("/processing", operation_id="processPayouts", status_code=200, responses=PROBLEMS)
    async def process(
        self, data: JSONBody[ProcessIn], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> list[SubmittedOut]:
        """Send scheduled (or failed/returned, as a retry) payouts through a rail. Finance with a fresh step-up."""
        sent = await payouts.process(deps, staff, data.payout_ids, rail=data.rail, reference=data.reference)
        return [
            SubmittedOut(
                payout_id=s.payout_id,
                attempt=s.attempt,
                rail=s.rail,
                reference=s.reference,
                trace_number=s.trace_number,
            )
            for s in sent
        ]

    @post("/payouts/{payout_id:uuid}/complete", operation_id="completePayout", status_code=200, responses=PROBLEMS)
    async def complete(
        self, payout_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PayoutOut:
        """The bank confirmed it (or the cheque cleared): by finance staff who did not approve it."""
        await payouts.complete(deps, staff, payout_id)
        return await self._view(deps, staff, payout_id)

    @post("/payouts/{payout_id:uuid}/fail", operation_id="failPayout", status_code=200, responses=PROBLEMS)
    async def fail(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[FailIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> PayoutOut:
        await payouts.fail(deps, staff, payout_id, data.failure, not_sent=data.not_sent)
        return await self._view(deps, staff, payout_id)

    @post("/payouts/{payout_id:uuid}/sent", operation_id="confirmPayoutSent", status_code=200, responses=PROBLEMS)
    async def confirm_sent(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[SentIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> PayoutOut:
        """Record that an attempt the rail never confirmed did leave (the bank's reference); then complete it."""
        await payouts.confirm_sent(deps, staff, payout_id, data.reference)
        return await self._view(deps, staff, payout_id)

    @post("/payouts/{payout_id:uuid}/return", operation_id="returnPayout", status_code=200, responses=PROBLEMS)
    async def mark_returned(
        self,
        payout_id: FromPath[UUID],
        data: JSONBody[ReturnIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> PayoutOut:
        """An ACH return (R01…) within 60 days of completion."""
        await payouts.mark_returned(deps, staff, payout_id, data.return_code)
        return await self._view(deps, staff, payout_id)

    @get(
        "/tax/1099",
        operation_id="export1099",
        media_type="text/csv",
        responses=PROBLEMS,
    )
    async def form_1099(
        self,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        year: Annotated[int, QueryParameter(ge=2000, le=2100)],
    ) -> Response[str]:
        """1099-MISC records for a tax year (CSV): completed, not returned payouts; TINs masked. Finance only."""
        body = await tax.form_1099_csv(deps, staff, year)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="tenure-1099-misc-{year}.csv"'},
        )

    @post("/tax/remittances", operation_id="recordRemittance", status_code=201, responses=PROBLEMS)
    async def remittance(
        self, data: JSONBody[RemittanceIn], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> RemittanceOut:
        """Backup withholding paid to the IRS (finance only; once per reference)."""
        done = await tax.record_remittance(
            deps,
            staff,
            tax_year=data.tax_year,
            amount_cents=data.amount_cents,
            reference=data.reference,
            remitted_at=data.remitted_at,
        )
        return RemittanceOut(
            id=done.record.id,
            tax_year=done.record.tax_year,
            amount=money_out(done.record.amount),
            reference=done.record.reference,
            withholding_payable_after=money_out(done.withholding_payable_after),
        )

    @get("/freeze", operation_id="getPayoutsFrozen", responses=PROBLEMS)
    async def freeze_state(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> SwitchOut:
        return switch_out(await program_switch.switch_state(deps, staff))

    @post("/freeze", operation_id="setPayoutsFrozen", status_code=200, responses=PROBLEMS)
    async def set_freeze(
        self, data: JSONBody[SwitchIn], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> SwitchOut:
        """Freeze or unfreeze payouts: one staff member requests with a reason, a second confirms the same."""
        return switch_out(await program_switch.set_frozen(deps, staff, frozen=data.frozen, reason=data.reason))

    @delete("/freeze", operation_id="withdrawPayoutsFrozenRequest", responses=PROBLEMS)
    async def withdraw_freeze(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> None:
        await program_switch.withdraw(deps, staff)
