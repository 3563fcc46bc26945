"""How amounts and dates read in messages: the CRM's currency, thousands separators, no surprises."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}


def format_money(amount: Decimal | None, currency: str | None) -> str:
    """`€12,500`, `$1,200.50`, `CHF 3,000`; a missing amount reads as an em dash."""
    if amount is None:
        return "—"
    rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.2f}"
    if text.endswith(".00"):
        text = text[:-3]
    negative = text.startswith("-")
    text = text.lstrip("-")
    code = (currency or "").upper()
    symbol = _SYMBOLS.get(code)
    body = f"{symbol}{text}" if symbol else f"{code} {text}".strip()
    return f"-{body}" if negative else body


def format_date(value: date | None) -> str:
    return value.strftime("%d %b %Y").lstrip("0") if value else "—"
