"""Block Kit for deal alerts: one change (a win, a stage move, a slipped date…) or a summary of many."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.formatting import format_date, format_money
from handlers.blocks import UPDATE, Block, button, context, escape, mrkdwn, text
from rituals.alerts import Change
from rituals.config import DealAlertRitual
from rituals.posts import ChannelPost, SlackMessage

__all__ = ["SlackAlerts"]

MAX_REPLIES = 5  # thread replies a summary lists its deals in; the rest are counted
SECTION_BUDGET = 2900  # characters of a reply's section, under Slack's 3,000 with room for "…and N more"


class SlackAlerts:
    """The `AlertRenderer` that `rituals.alerts` is handed."""

    def one(self, rule: DealAlertRitual, change: Change, owner_slack: str | None) -> SlackMessage:
        owner = f"<@{owner_slack}>" if owner_slack else escape(change.owner_name)
        link = _link(change)
        amount = "" if change.amount is None else f" — {format_money(change.amount, change.currency)}"
        if change.is_won and change.stage_moved:
            headline = f"🎉 {link} is won! Congratulations {owner}{amount}"
        elif change.is_new:
            headline = f"🆕 New deal {link}{amount}, {escape(change.stage_label)}, owner {owner}"
        else:
            headline = f"{link}{amount} · owner {owner}"
        lines = [headline, *(f"• {line}" for line in what_changed(change))]
        blocks: list[Block] = [mrkdwn("\n".join(lines))]
        who = f"Changed by <@{change.changed_by}> in Slack · " if change.changed_by else ""
        blocks.append(context(f"{who}{escape(change.pipeline_label)} · alert `{rule.id}`"))
        if not change.is_closed and (change.close_pushed_days > 0 or rule.when.close_date_pushed_by_days):
            blocks.append({"type": "actions", "elements": [button("Update…", UPDATE, change.deal_id)]})
        return SlackMessage(text(_plain(change), 300), blocks)

    def summary(
        self, rule: DealAlertRitual, changes: Sequence[Change], *, as_dm: bool = False
    ) -> ChannelPost:
        """A channel post lists the deals in its thread; a DM has no thread, so the list follows it."""
        n = len(changes)
        stages = {c.stage_label for c in changes}
        moved = f" moved to {escape(next(iter(stages)))}" if rule.when.stages and len(stages) == 1 else ""
        where = "the list follows" if as_dm else "see the list in the thread"
        headline = f"*{n} deals{moved}* in one change ({escape(rule.id)}): {where}."
        totals = _totals(changes)
        message = SlackMessage(
            text(f"{n} deals{moved} in one change", 300),
            [mrkdwn(headline), context(totals)] if totals else [mrkdwn(headline)],
        )
        thread = [
            SlackMessage(f"Deals {first} to {last}", [mrkdwn(chunk)])
            for first, last, chunk in _listing(
                [f"• {_link(c)} — {format_money(c.amount, c.currency)}" for c in changes]
            )
        ]
        if as_dm:
            blocks = [*message.blocks, *(block for reply in thread for block in reply.blocks)]
            return ChannelPost(SlackMessage(message.text, blocks))
        return ChannelPost(message, thread=thread)


def what_changed(change: Change) -> list[str]:
    """Before → after for each tracked field that moved."""
    lines = []
    if change.stage_moved:
        lines.append(f"Stage: {escape(change.before_stage_label or '')} → *{escape(change.stage_label)}*")
    if change.before_amount is not None and change.amount != change.before_amount:
        percent = change.amount_change_percent
        delta = f" ({percent:+.0f}%)" if percent is not None else ""
        before = format_money(change.before_amount, change.currency)
        lines.append(f"Amount: {before} → *{format_money(change.amount, change.currency)}*{delta}")
    if change.before_close_date is not None and change.close_date != change.before_close_date:
        pushed = change.close_pushed_days
        by = f" ({pushed:+d} days)" if pushed else ""
        lines.append(
            f"Close date: {format_date(change.before_close_date)} → *{format_date(change.close_date)}*{by}"
        )
    if change.owner_moved:
        lines.append(f"Owner: {escape(change.before_owner_name or 'nobody')} → *{escape(change.owner_name)}*")
    return lines


def _listing(lines: Sequence[str]) -> list[tuple[int, int, str]]:
    """The lines in sections that fit Slack's 3,000 characters, at most MAX_REPLIES of them, each
    as (first, last, text); what does not fit is counted in the last one, never cut mid-line."""
    chunks: list[tuple[int, int, str]] = []
    current: list[str] = []
    first = 1
    for index, line in enumerate(lines, start=1):
        if current and len("\n".join([*current, line])) > SECTION_BUDGET:
            if len(chunks) == MAX_REPLIES - 1:
                break
            chunks.append((first, index - 1, "\n".join(current)))
            current, first = [], index
        current.append(line[:SECTION_BUDGET])
    shown = first - 1 + len(current)
    rest = f"\n…and {len(lines) - shown} more." if shown < len(lines) else ""
    chunks.append((first, shown, "\n".join(current) + rest))
    return chunks


def _link(change: Change) -> str:
    return f"*<{change.url}|{escape(change.deal_name)}>*"


def _plain(change: Change) -> str:
    """The notification text: escaped too, or a deal named `<!channel>` would ping everyone."""
    name = escape(change.deal_name)
    if change.is_won and change.stage_moved:
        return f"🎉 {name} is won"
    if change.is_new:
        return f"New deal: {name}"
    return f"{name} changed"


def _totals(changes: Sequence[Change]) -> str:
    """The amounts per currency (never added across currencies)."""
    by_currency: dict[str, list[Change]] = {}
    for change in changes:
        if change.amount is not None:
            by_currency.setdefault(change.currency or "", []).append(change)
    parts = []
    for currency, group in sorted(by_currency.items()):
        total = sum((c.amount for c in group if c.amount is not None), Decimal(0))
        parts.append(format_money(total, currency or None))
    return " + ".join(parts)
