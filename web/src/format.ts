/** How money, instants and codes are shown: amounts are integer cents (never floats on the wire). */
import type { Schemas } from "./api/client";

export function money(value: Schemas["MoneyOut"] | null | undefined): string {
  if (!value) return "—";
  return centsText(value.amountCents, value.currency);
}

export function centsText(cents: number, currency = "USD"): string {
  return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(cents / 100);
}

/** An instant in the reader's zone, with the zone named (DOMAIN.md: dates shown to members carry a zone). */
export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Intl.DateTimeFormat("en-US", {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
  }).format(new Date(iso));
}

export function day(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Intl.DateTimeFormat("en-US", { dateStyle: "medium" }).format(new Date(iso));
}

/** `payment_disputed` → "Payment disputed". */
export function words(code: string): string {
  const text = code.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
