"""Wire schemas shared across controllers. JSON is camelCase; unknown fields are refused on input."""

import msgspec

from domain.money import Money


class Problem(msgspec.Struct, rename="camel", kw_only=True):
    """RFC 9457 problem document (as documented in the OpenAPI schema)."""

    type: str
    title: str
    status: int
    code: str
    instance: str
    request_id: str
    detail: str | None = None


class Liveness(msgspec.Struct, rename="camel", kw_only=True):
    status: str


class ComponentState(msgspec.Struct, rename="camel", kw_only=True):
    component: str
    ok: bool
    detail: str


class ReadinessReport(msgspec.Struct, rename="camel", kw_only=True):
    status: str
    components: list[ComponentState]


class MoneyOut(msgspec.Struct, rename="camel", kw_only=True):
    amount_cents: int
    currency: str


def money_out(value: Money) -> MoneyOut:
    return MoneyOut(amount_cents=value.cents, currency=value.currency)
