"""The NACHA rail: one ACH file (one PPD credit batch) per submission, for finance to upload to our bank.

Why here: this is the one place a full account number is opened, and it goes straight into a 0600 file that is
written atomically, so the bank never sees a torn file. No account number reaches a log, an exception message or
a return value. Every transfer is checked (and opened) before anything is written, so a submission is all or none.
``read_entries`` parses a file back and checks its control totals, for tests and for operators before upload.
"""

import asyncio
import contextlib
import logging
import os
import re
import string
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ports.outbound.clock import Clock
from ports.outbound.payout_rail import (
    PayoutMethod,
    RailRefused,
    Transfer,
    TransferSubmitted,
    account_context,
)
from ports.outbound.security import SecretBox

log = logging.getLogger(__name__)

RECORD_LEN = 94
BLOCKING_FACTOR = 10
PADDING = "9" * RECORD_LEN
MODIFIERS = string.ascii_uppercase + string.digits
TRANSACTION_CODES = {"checking": "22", "savings": "32"}
"""Credits (automated deposits) to a checking or a savings account."""
SERVICE_CLASS = "220"
"""Credits only."""
MAX_ENTRY_CENTS = 10**10 - 1
MAX_TOTAL_CENTS = 10**12 - 1
MAX_ENTRIES = 99
"""Entries per file: the trace number's last two digits number them (see `_trace`)."""
_ACCOUNT = re.compile(r"[0-9A-Z-]{1,17}")


def aba_valid(routing: str) -> bool:
    """A 9-digit ABA routing number whose check digit holds: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 mod 10."""
    if len(routing) != 9 or not (routing.isascii() and routing.isdigit()):
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def ascii_upper(text: str) -> str:
    """Upper-case printable ASCII: accents folded (``José`` → ``JOSE``), other characters dropped."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join("".join(c if c.isprintable() else " " for c in folded).split()).upper()


def _alpha(value: str, width: int) -> str:
    return value[:width].ljust(width)


def _num(value: int, width: int) -> str:
    text = str(value)
    if value < 0 or len(text) > width:
        raise ValueError(f"{value} does not fit a {width}-digit field")
    return text.zfill(width)


def _record(*fields: str) -> str:
    line = "".join(fields)
    if len(line) != RECORD_LEN:
        raise ValueError(f"a NACHA record must be {RECORD_LEN} characters, got {len(line)}")
    return line


def _entry_hash(routings: Sequence[str]) -> int:
    return sum(int(routing[:8]) for routing in routings) % 10**10


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True, slots=True)
class NachaEntry:
    """One entry detail record (type 6)."""

    transaction_code: str
    routing_number: str
    """All nine digits, check digit included."""
    account_number: str
    amount_cents: int
    individual_id: str
    individual_name: str
    trace_number: str


class NachaFileRail:
    def __init__(
        self,
        *,
        box: SecretBox,
        export_dir: Path,
        immediate_destination: str,
        immediate_origin: str,
        destination_name: str,
        origin_name: str,
        company_name: str,
        company_id: str,
        originating_dfi: str,
        clock: Clock,
    ) -> None:
        if not aba_valid(immediate_destination):
            raise ValueError("immediate_destination must be a valid 9-digit ABA routing number")
        if not all(len(v) == 10 and v.isascii() and v.isprintable() for v in (immediate_origin, company_id)):
            raise ValueError("immediate_origin and company_id must be 10 printable ASCII characters")
        if len(originating_dfi) != 8 or not (originating_dfi.isascii() and originating_dfi.isdigit()):
            raise ValueError("originating_dfi must be 8 digits")
        self._box = box
        self._export_dir = export_dir
        self._destination = immediate_destination
        self._origin = immediate_origin
        self._destination_name = ascii_upper(destination_name)
        self._origin_name = ascii_upper(origin_name)
        self._company_name = ascii_upper(company_name)
        self._company_id = company_id
        self._odfi = originating_dfi
        self._clock = clock

    @property
    def name(self) -> str:
        return "nacha"

    def check(self, transfers: Sequence[Transfer], *, reference: str | None = None) -> None:
        """Everything `submit` would refuse, refused now, writing nothing (before any state commits)."""
        self._entries(transfers)

    async def submit(
        self, transfers: Sequence[Transfer], *, actor: str, reference: str | None = None
    ) -> Sequence[TransferSubmitted]:
        entries = self._entries(transfers)
        now = self._clock.now().astimezone(UTC)
        file_name, entries = await asyncio.to_thread(self._write, entries, now)
        log.info(
            "nacha file %s written for %s: %d credits, %d cents",
            file_name,
            actor,
            len(entries),
            sum(e.amount_cents for e in entries),
        )
        return [
            TransferSubmitted(
                payout_id=t.payout_id,
                attempt=t.attempt,
                rail=self.name,
                reference=file_name,
                trace_number=e.trace_number,
            )
            for t, e in zip(transfers, entries, strict=True)
        ]

    def _entries(self, transfers: Sequence[Transfer]) -> list[NachaEntry]:
        if not transfers:
            raise RailRefused("no transfers to submit")
        if len(transfers) > MAX_ENTRIES:
            raise RailRefused(f"at most {MAX_ENTRIES} transfers fit one batch")
        if len({t.payout_id for t in transfers}) != len(transfers):
            raise RailRefused("a payout appears twice in one submission")
        entries = [self._entry(t) for t in transfers]
        if sum(e.amount_cents for e in entries) > MAX_TOTAL_CENTS:
            raise RailRefused("the total does not fit one batch's 12-digit credit total")
        return entries

    def _entry(self, transfer: Transfer) -> NachaEntry:
        payout = transfer.payout_id
        if transfer.method is not PayoutMethod.ACH:
            raise RailRefused(f"payout {payout}: the NACHA rail sends ACH only, not {transfer.method}")
        if transfer.amount.currency != "USD" or not 0 < transfer.amount.cents <= MAX_ENTRY_CENTS:
            raise RailRefused(f"payout {payout}: the amount must be positive USD within one entry")
        code = TRANSACTION_CODES.get(transfer.account_type or "")
        if code is None:
            raise RailRefused(f"payout {payout}: the account type must be checking or savings")
        if transfer.routing_number is None or not aba_valid(transfer.routing_number):
            raise RailRefused(f"payout {payout}: a valid 9-digit routing number is required")
        if transfer.sealed_account_number is None:
            raise RailRefused(f"payout {payout}: no account number")
        name = ascii_upper(transfer.payee_name)
        if not name:
            raise RailRefused(f"payout {payout}: nothing of the payee name survives folding to ASCII")
        try:
            account = self._box.open(transfer.sealed_account_number, context=account_context(payout)).decode("ascii")
        except ValueError:  # includes UnicodeDecodeError, whose message would carry the bytes
            raise RailRefused(f"payout {payout}: the sealed account number will not open") from None
        if not _ACCOUNT.fullmatch(account):
            raise RailRefused(f"payout {payout}: the account number is not 1–17 digits, capitals or hyphens")
        return NachaEntry(
            transaction_code=code,
            routing_number=transfer.routing_number,
            account_number=account,
            amount_cents=transfer.amount.cents,
            individual_id=payout.hex[:15].upper(),
            individual_name=name[:22],
            trace_number="",  # numbered once the file's modifier is known (`_trace`)
        )

    def _trace(self, now: datetime, modifier: str, sequence: int) -> str:
        """ODFI + day of year (3) + the file's modifier index (2) + the entry's number (2): unique for a year, so
        a return (which arrives within 60 days) always names one entry of one file."""
        return self._odfi + f"{now.timetuple().tm_yday:03d}{MODIFIERS.index(modifier):02d}{sequence:02d}"

    def _write(self, entries: Sequence[NachaEntry], now: datetime) -> tuple[str, list[NachaEntry]]:
        """Claim the day's first free file id modifier (an exclusive create, safe across processes), then
        replace the empty claim with the complete file. Returns the file name and the entries as written."""
        self._export_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for modifier in MODIFIERS:
            path = self._export_dir / f"tenure-ach-{now:%Y%m%d}-{modifier}.ach"
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                continue
            numbered = [replace(e, trace_number=self._trace(now, modifier, n)) for n, e in enumerate(entries, start=1)]
            try:
                _write_atomically(path, self._render(numbered, now, modifier).encode("ascii"))
            except BaseException:
                path.unlink(missing_ok=True)  # all or none: no empty claim or half-recorded file is left
                raise
            return path.name, numbered
        raise RailRefused(f"all {len(MODIFIERS)} ACH file names for {now:%Y-%m-%d} are taken")

    def _render(self, entries: Sequence[NachaEntry], now: datetime, modifier: str) -> str:
        batch_number = _num(1, 7)
        entry_hash = _num(_entry_hash([e.routing_number for e in entries]), 10)
        credits = _num(sum(e.amount_cents for e in entries), 12)
        count = len(entries)
        records = [
            _record(
                "101",
                " " + self._destination,
                _alpha(self._origin, 10),
                f"{now:%y%m%d%H%M}",
                modifier,
                "094",
                "10",
                "1",
                _alpha(self._destination_name, 23),
                _alpha(self._origin_name, 23),
                " " * 8,
            ),
            _record(
                "5",
                SERVICE_CLASS,
                _alpha(self._company_name, 16),
                " " * 20,
                _alpha(self._company_id, 10),
                "PPD",
                _alpha("PAYOUT", 10),
                " " * 6,
                f"{_next_weekday(now.date()):%y%m%d}",
                " " * 3,
                "1",
                self._odfi,
                batch_number,
            ),
            *(
                _record(
                    "6",
                    e.transaction_code,
                    e.routing_number,
                    _alpha(e.account_number, 17),
                    _num(e.amount_cents, 10),
                    _alpha(e.individual_id, 15),
                    _alpha(e.individual_name, 22),
                    "  ",
                    "0",
                    e.trace_number,
                )
                for e in entries
            ),
            _record(
                "8",
                SERVICE_CLASS,
                _num(count, 6),
                entry_hash,
                _num(0, 12),
                credits,
                _alpha(self._company_id, 10),
                " " * 25,
                self._odfi,
                batch_number,
            ),
        ]
        blocks = -(-(len(records) + 1) // BLOCKING_FACTOR)
        records.append(
            _record("9", _num(1, 6), _num(blocks, 6), _num(count, 8), entry_hash, _num(0, 12), credits, " " * 39)
        )
        records += [PADDING] * (blocks * BLOCKING_FACTOR - len(records))
        return "\n".join(records) + "\n"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a private temp file beside ``path``, fsync it, rename it over ``path`` and fsync the directory."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tenure-ach-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _digits(field: str, what: str) -> int:
    if not (field.isascii() and field.isdigit()):
        raise ValueError(f"{what} is not numeric")
    return int(field)


def _parse_entry(line: str) -> NachaEntry:
    if line[1:3] not in TRANSACTION_CODES.values():
        raise ValueError(f"transaction code {line[1:3]!r} is not a checking or savings credit")
    if not aba_valid(line[3:12]):
        raise ValueError("a receiving routing number fails its check digit")
    if line[78] != "0":
        raise ValueError("addenda records are not expected")
    return NachaEntry(
        transaction_code=line[1:3],
        routing_number=line[3:12],
        account_number=line[12:29].rstrip(),
        amount_cents=_digits(line[29:39], "an entry amount"),
        individual_id=line[39:54].rstrip(),
        individual_name=line[54:76].rstrip(),
        trace_number=line[79:94],
    )


def _check_control(line: str, entries: Sequence[NachaEntry], count: slice, hash_: slice, debit: slice) -> None:
    """Check a batch or file control's entry count, entry hash, and (credit-only) debit and credit totals."""
    credit = slice(debit.stop, debit.stop + 12)
    expected = [
        (count, len(entries), "entry count"),
        (hash_, _entry_hash([e.routing_number for e in entries]), "entry hash"),
        (debit, 0, "debit total"),
        (credit, sum(e.amount_cents for e in entries), "credit total"),
    ]
    for field, value, what in expected:
        if _digits(line[field], what) != value:
            raise ValueError(f"record type {line[0]}: the {what} does not match the entries")


def read_entries(text: str) -> list[NachaEntry]:
    """The entry details of a credit-only NACHA file, after checking record lengths, record order, padding and
    every batch and file control total. Raises ``ValueError`` on the first problem."""
    lines = text.splitlines()
    if not lines or any(len(line) != RECORD_LEN for line in lines):
        raise ValueError(f"every record must be {RECORD_LEN} characters")
    if len(lines) % BLOCKING_FACTOR:
        raise ValueError(f"the file is not padded to a multiple of {BLOCKING_FACTOR} records")
    blocks = len(lines) // BLOCKING_FACTOR
    while lines and lines[-1] == PADDING:
        lines.pop()
    if len(lines) < 2 or lines[0][0] != "1" or lines[-1][0] != "9":
        raise ValueError("the file must open with a file header and close with a file control")
    entries: list[NachaEntry] = []
    batch: list[NachaEntry] | None = None
    batches = 0
    for line in lines[1:-1]:
        kind = line[0]
        if kind == "5" and batch is None:
            batch, batches = [], batches + 1
        elif kind == "6" and batch is not None:
            batch.append(_parse_entry(line))
        elif kind == "8" and batch is not None:
            _check_control(line, batch, slice(4, 10), slice(10, 20), slice(20, 32))
            entries += batch
            batch = None
        else:
            raise ValueError(f"record type {kind} is out of order")
    if batch is not None:
        raise ValueError("a batch has no batch control")
    control = lines[-1]
    if _digits(control[1:7], "batch count") != batches:
        raise ValueError("the file control's batch count does not match")
    if _digits(control[7:13], "block count") != blocks or blocks != -(-len(lines) // BLOCKING_FACTOR):
        raise ValueError("the block count does not match the records and their padding")
    _check_control(control, entries, slice(13, 21), slice(21, 31), slice(31, 43))
    return entries
