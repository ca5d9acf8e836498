"""CSV cells that are safe to open in a spreadsheet (OWASP CSV injection): member-supplied text (names, W-9
fields, emails) that starts like a formula gets a leading apostrophe, so it shows as text and never runs."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
