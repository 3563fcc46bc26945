"""Amounts and dates in English, for code that has no reader's language yet.

Messages a person reads take their translator (`core.i18n`) instead; these two are its English.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.i18n import translator


def format_money(amount: Decimal | None, currency: str | None) -> str:
    """`€12,500`, `€1,200.50`, `CHF 3,000`; a missing amount reads as an em dash."""
    return translator("en").money(amount, currency)


def format_date(value: date | None) -> str:
    return translator("en").date(value)
