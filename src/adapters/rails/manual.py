"""The manual rail: finance records a transfer they made by hand (a wire, or a mailed cheque).

It never opens a sealed account number, so it takes no secret box: finance reads the masked last four digits
in the app and the full number from the bank's own records. Only finance's ``reference`` (a wire confirmation
or cheque number) ties the payout to the money that left.
"""

from collections.abc import Sequence

from ports.outbound.payout_rail import PayoutMethod, RailRefused, Transfer, TransferSubmitted


class ManualTransferRail:
    @property
    def name(self) -> str:
        return "manual"

    def check(self, transfers: Sequence[Transfer], *, reference: str | None = None) -> None:
        """Everything `submit` would refuse (it records nothing either way)."""
        if not (reference or "").strip():
            raise RailRefused("a manual transfer needs finance's reference (wire confirmation or cheque number)")
        if not transfers:
            raise RailRefused("no transfers to record")
        for transfer in transfers:
            if transfer.method not in (PayoutMethod.ACH, PayoutMethod.CHEQUE):
                raise RailRefused(f"payout {transfer.payout_id}: the manual rail cannot record {transfer.method}")

    async def submit(
        self, transfers: Sequence[Transfer], *, actor: str, reference: str | None = None
    ) -> Sequence[TransferSubmitted]:
        self.check(transfers, reference=reference)
        reference = (reference or "").strip()
        return [
            TransferSubmitted(payout_id=t.payout_id, attempt=t.attempt, rail=self.name, reference=reference)
            for t in transfers
        ]
