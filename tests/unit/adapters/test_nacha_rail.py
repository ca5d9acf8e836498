"""The NACHA rail writes one valid credit file per submission, all or none; ``read_entries`` reads it back."""

import logging
import stat
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.rails.nacha import NachaFileRail, read_entries
from adapters.security.crypto import AesGcmSecretBox, derive_key
from domain.checkout import PostalAddress
from domain.money import Money
from ports.outbound.payout_rail import PayoutMethod, RailRefused, Transfer, account_context
from tests.fakes import FakeClock

BOX = AesGcmSecretBox(derive_key("a-test-secret-key-that-is-long-enough-0123456789", "payout-accounts"))
NOW = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)  # a Friday: the effective entry date is Monday
ODFI = "01100001"
ROUTINGS = ["011000015", "021000021", "026009593"]
PADDING = "9" * 94


def make_rail(export_dir: Path) -> NachaFileRail:
    return NachaFileRail(
        box=BOX,
        export_dir=export_dir,
        immediate_destination="011000015",
        immediate_origin="1123456789",
        destination_name="Federal Reserve Bank",
        origin_name="Tenure Inc",
        company_name="Tenure",
        company_id="1123456789",
        originating_dfi=ODFI,
        clock=FakeClock(NOW),
    )


def ach(
    *,
    cents: int = 10_000_000,
    account: str = "000123456789",
    account_type: str | None = "checking",
    routing: str | None = "021000021",
    name: str = "Ada Lovelace",
    payout_id: UUID | None = None,
    sealed_for: UUID | None = None,
) -> Transfer:
    payout_id = payout_id or uuid4()
    sealed = BOX.seal(account.encode(), context=account_context(sealed_for or payout_id))
    return Transfer(
        payout_id=payout_id,
        attempt=1,
        amount=Money(cents=cents),
        method=PayoutMethod.ACH,
        payee_name=name,
        routing_number=routing,
        account_type=account_type,
        sealed_account_number=sealed,
    )


def cheque() -> Transfer:
    address = PostalAddress(line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US")
    return Transfer(
        payout_id=uuid4(),
        attempt=1,
        amount=Money(cents=10_000_000),
        method=PayoutMethod.CHEQUE,
        payee_name="Ada Lovelace",
        mailing_address=address,
    )


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "ach"


@pytest.fixture
def rail(export_dir: Path) -> NachaFileRail:
    return make_rail(export_dir)


def files_in(directory: Path) -> list[str]:
    """Every file name, temporary or not."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def lines_of(export_dir: Path, name: str) -> list[str]:
    return (export_dir / name).read_text().splitlines()


async def test_file_layout_header_and_padding(rail: NachaFileRail, export_dir: Path) -> None:
    transfers = [ach(), ach(account_type="savings"), ach(routing="011000015")]
    submitted = await rail.submit(transfers, actor="finance:1")

    name = submitted[0].reference
    assert name == "tenure-ach-20260306-A.ach"
    assert {s.reference for s in submitted} == {name}
    assert [s.rail for s in submitted] == ["nacha"] * 3
    assert stat.S_IMODE((export_dir / name).stat().st_mode) == 0o600
    assert files_in(export_dir) == [name]

    lines = lines_of(export_dir, name)
    assert all(len(line) == 94 for line in lines)
    assert len(lines) % 10 == 0
    assert [line[0] for line in lines[:7]] == ["1", "5", "6", "6", "6", "8", "9"]
    assert lines[7:] == [PADDING] * 3

    header, batch = lines[0], lines[1]
    assert header[:13] == "101 011000015"
    assert header[13:23] == "1123456789"
    assert header[23:33] == "2603061530"
    assert header[33:40] == "A094101"
    assert header[40:63] == "FEDERAL RESERVE BANK".ljust(23)
    assert batch[1:4] == "220"
    assert batch[4:20] == "TENURE".ljust(16)
    assert batch[40:63] == "1123456789PPDPAYOUT    "
    assert batch[69:75] == "260309"
    assert batch[79:94] == ODFI + "0000001"


async def test_control_totals_match_an_independent_computation(rail: NachaFileRail, export_dir: Path) -> None:
    transfers = [ach(cents=c, routing=r) for c, r in [(10_000_000, ROUTINGS[0]), (1, ROUTINGS[1]), (99, ROUTINGS[2])]]
    submitted = await rail.submit(transfers, actor="finance:1")

    lines = lines_of(export_dir, submitted[0].reference)
    records = [line for line in lines if line != PADDING]
    entries = [line for line in records if line[0] == "6"]
    batch_control, file_control = records[-2], records[-1]
    entry_hash = f"{sum(int(line[3:11]) for line in entries) % 10**10:010d}"
    credits = f"{10_000_000 + 1 + 99:012d}"
    assert entry_hash == f"{(1100001 + 2100002 + 2600959) % 10**10:010d}"
    assert batch_control[1:20] == f"220000003{entry_hash}"
    assert batch_control[20:44] == "0" * 12 + credits
    assert file_control[1:21] == f"000001{-(-len(records) // 10):06d}00000003"
    assert file_control[21:55] == entry_hash + "0" * 12 + credits
    assert file_control[55:] == " " * 39


async def test_entries_carry_codes_accounts_amounts_ids_and_traces(rail: NachaFileRail, export_dir: Path) -> None:
    checking = ach(cents=12_345, account="111222333")
    savings = ach(cents=67_890, account="44455-66", account_type="savings", routing="011000015")
    submitted = await rail.submit([checking, savings], actor="finance:1")

    entries = read_entries((export_dir / submitted[0].reference).read_text())
    assert [e.transaction_code for e in entries] == ["22", "32"]
    assert [e.routing_number for e in entries] == ["021000021", "011000015"]
    assert [e.account_number for e in entries] == ["111222333", "44455-66"]
    assert [e.amount_cents for e in entries] == [12_345, 67_890]
    assert [e.individual_id for e in entries] == [t.payout_id.hex[:15].upper() for t in (checking, savings)]
    # ODFI + day of year (65) + the file's modifier index (A = 00) + the entry number.
    assert [e.trace_number for e in entries] == [ODFI + "0650001", ODFI + "0650002"]
    assert [s.trace_number for s in submitted] == [e.trace_number for e in entries]
    assert [(s.payout_id, s.attempt) for s in submitted] == [(checking.payout_id, 1), (savings.payout_id, 1)]


async def test_names_are_ascii_folded_upper_cased_and_truncated(rail: NachaFileRail, export_dir: Path) -> None:
    transfers = [ach(name="José Núñez"), ach(name="  Zoë\tBrontë-Ødegård Wolfeschlegelsteinhausen ")]
    submitted = await rail.submit(transfers, actor="finance:1")

    entries = read_entries((export_dir / submitted[0].reference).read_text())
    assert [e.individual_name for e in entries] == ["JOSE NUNEZ", "ZOE BRONTE-DEGARD WOLF"]


async def test_two_files_on_one_day_get_distinct_names_and_modifiers(rail: NachaFileRail, export_dir: Path) -> None:
    one = (await rail.submit([ach()], actor="finance:1"))[0]
    two = (await rail.submit([ach()], actor="finance:1"))[0]
    first, second = one.reference, two.reference

    assert (first, second) == ("tenure-ach-20260306-A.ach", "tenure-ach-20260306-B.ach")
    assert one.trace_number != two.trace_number, "a return names exactly one entry of one file"
    assert [lines_of(export_dir, name)[0][33] for name in (first, second)] == ["A", "B"]
    assert files_in(export_dir) == [first, second]


async def test_a_value_sealed_for_another_payout_is_refused_and_nothing_is_written(
    rail: NachaFileRail, export_dir: Path
) -> None:
    with pytest.raises(RailRefused, match="will not open"):
        rail.check([ach(), ach(sealed_for=uuid4())])
    with pytest.raises(RailRefused, match="will not open"):
        await rail.submit([ach(), ach(sealed_for=uuid4())], actor="finance:1")
    assert files_in(export_dir) == []


@pytest.mark.parametrize(
    ("transfers", "reason"),
    [
        ([], "no transfers"),
        ([cheque()], "ACH only"),
        ([ach(routing=None)], "routing"),
        ([ach(routing="021000022")], "routing"),
        ([ach(account_type=None)], "checking or savings"),
        ([ach(account_type="brokerage")], "checking or savings"),
        ([ach(cents=0)], "positive USD"),
        ([ach(cents=-100)], "positive USD"),
        ([replace(ach(), amount=Money(cents=100, currency="EUR"))], "positive USD"),
        ([replace(ach(), sealed_account_number=None)], "no account number"),
        ([ach(account="12 34")], "account number"),
        ([ach(account="123456789012345678")], "account number"),
        ([ach(name="李小龍")], "payee name"),
        ([ach(payout_id=UUID(int=7)), ach(payout_id=UUID(int=7))], "twice"),
    ],
)
async def test_invalid_transfers_are_refused_and_nothing_is_written(
    rail: NachaFileRail, export_dir: Path, transfers: list[Transfer], reason: str
) -> None:
    with pytest.raises(RailRefused, match=reason):
        await rail.submit([ach(), *transfers] if transfers else [], actor="finance:1")
    assert files_in(export_dir) == []


async def test_account_numbers_never_reach_the_log(rail: NachaFileRail, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await rail.submit([ach(account="987654321")], actor="finance:1")
    with pytest.raises(RailRefused) as refused:
        await rail.submit([ach(account="87654321", sealed_for=uuid4())], actor="finance:1")
    assert "nacha file" in caplog.text
    assert "987654321" not in caplog.text
    assert "87654321" not in str(refused.value)


async def test_the_reader_rejects_a_tampered_file(rail: NachaFileRail, export_dir: Path) -> None:
    path = export_dir / (await rail.submit([ach(cents=500), ach(cents=700)], actor="finance:1"))[0].reference
    lines = path.read_text().splitlines()
    tampered = lines[2][:29] + f"{501:010d}" + lines[2][39:]
    with pytest.raises(ValueError, match="credit total"):
        read_entries("\n".join([lines[0], lines[1], tampered, *lines[3:]]))
    with pytest.raises(ValueError, match="multiple of 10"):
        read_entries("\n".join(lines[:-1]))
    with pytest.raises(ValueError, match="94"):
        read_entries("\n".join([lines[0] + " ", *lines[1:]]))


def routing_numbers() -> st.SearchStrategy[str]:
    def with_check_digit(prefix: str) -> str:
        d = [int(c) for c in prefix]
        weighted = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5]
        return prefix + str(-weighted % 10)

    return st.from_regex(r"[0-9]{8}", fullmatch=True).map(with_check_digit)


valid_transfers = st.builds(
    lambda cents, account, account_type, routing, name: ach(
        cents=cents, account=account, account_type=account_type, routing=routing, name=name
    ),
    cents=st.integers(min_value=1, max_value=10**10 - 1),
    account=st.from_regex(r"[0-9A-Z-]{1,17}", fullmatch=True),
    account_type=st.sampled_from(["checking", "savings"]),
    routing=routing_numbers(),
    name=st.tuples(st.text(max_size=20), st.sampled_from("AbÉñz"), st.text(max_size=19)).map("".join),
)


@settings(max_examples=50, deadline=None)
@given(transfers=st.lists(valid_transfers, min_size=1, max_size=30))
async def test_any_valid_submission_reads_back_with_matching_totals(transfers: list[Transfer]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        rail = make_rail(Path(directory))
        submitted = await rail.submit(transfers, actor="finance:1")
        text = (Path(directory) / submitted[0].reference).read_text()

    entries = read_entries(text)
    accounts = [BOX.open(t.sealed_account_number or b"", context=account_context(t.payout_id)) for t in transfers]
    assert [e.account_number.encode() for e in entries] == accounts
    assert [e.routing_number for e in entries] == [t.routing_number for t in transfers]
    assert [e.amount_cents for e in entries] == [t.amount.cents for t in transfers]
    assert [e.transaction_code for e in entries] == ["22" if t.account_type == "checking" else "32" for t in transfers]
    lines = text.splitlines()
    assert len(lines) % 10 == 0
    file_control = next(line for line in reversed(lines) if line != PADDING)
    assert int(file_control[43:55]) == sum(t.amount.cents for t in transfers)
    assert int(file_control[21:31]) == sum(int(t.routing_number[:8]) for t in transfers if t.routing_number) % 10**10
