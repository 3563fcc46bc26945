"""Block Kit for deal alerts: one change (a win, a stage move, a slipped date…) or a summary of many."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.i18n import Translator
from handlers.blocks import UPDATE, Block, button, context, escape, mrkdwn, text
from rituals.alerts import Change
from rituals.config import DealAlertRitual
from rituals.posts import ChannelPost, SlackMessage

__all__ = ["SlackAlerts"]

MAX_REPLIES = 5  # thread replies a summary lists its deals in; the rest are counted
SECTION_BUDGET = 2900  # characters of a reply's section, under Slack's 3,000 with room for "…and N more"


class SlackAlerts:
    """The `AlertRenderer` that `rituals.alerts` is handed: each alert in its reader's language `t`
    (a channel's, or the person a DM goes to)."""

    def one(
        self, rule: DealAlertRitual, change: Change, owner_slack: str | None, *, t: Translator
    ) -> SlackMessage:
        owner = f"<@{owner_slack}>" if owner_slack else escape(change.owner_name)
        link = _link(change)
        amount = "" if change.amount is None else f" — {t.money(change.amount, change.currency)}"
        if change.is_won and change.stage_moved:
            headline = t._(
                "🎉 {deal} is won! Congratulations {owner}{amount}", deal=link, owner=owner, amount=amount
            )
        elif change.is_new:
            headline = t._(
                "🆕 New deal {deal}{amount}, {stage}, owner {owner}",
                deal=link,
                amount=amount,
                stage=escape(change.stage_label),
                owner=owner,
            )
        else:
            headline = t._("{deal}{amount} · owner {owner}", deal=link, amount=amount, owner=owner)
        lines = [headline, *(f"• {line}" for line in what_changed(change, t))]
        blocks: list[Block] = [mrkdwn("\n".join(lines))]
        where = t._("{pipeline} · alert `{rule}`", pipeline=escape(change.pipeline_label), rule=rule.id)
        if change.changed_by:
            where = t._("Changed by <@{user}> in Slack · {where}", user=change.changed_by, where=where)
        blocks.append(context(where))
        if not change.is_closed and (change.close_pushed_days > 0 or rule.when.close_date_pushed_by_days):
            blocks.append({"type": "actions", "elements": [button(t._("Update…"), UPDATE, change.deal_id)]})
        return SlackMessage(text(_plain(change, t), 300), blocks)

    def summary(
        self, rule: DealAlertRitual, changes: Sequence[Change], *, as_dm: bool = False, t: Translator
    ) -> ChannelPost:
        """A channel post lists the deals in its thread; a DM has no thread, so the list follows it."""
        n = len(changes)
        stages = {c.stage_label for c in changes}
        if rule.when.stages and len(stages) == 1:
            deals = t.n_(
                "{n} deal moved to {stage}", "{n} deals moved to {stage}", n, stage=escape(next(iter(stages)))
            )
        else:
            deals = t.n_("{n} deal", "{n} deals", n)
        if as_dm:
            headline = t._(
                "*{deals}* in one change ({rule}): the list follows.", deals=deals, rule=escape(rule.id)
            )
        else:
            headline = t._(
                "*{deals}* in one change ({rule}): see the list in the thread.",
                deals=deals,
                rule=escape(rule.id),
            )
        totals = _totals(changes, t)
        message = SlackMessage(
            text(t._("{deals} in one change", deals=deals), 300),
            [mrkdwn(headline), context(totals)] if totals else [mrkdwn(headline)],
        )
        thread = [
            SlackMessage(t._("Deals {first} to {last}", first=first, last=last), [mrkdwn(chunk)])
            for first, last, chunk in _listing(
                [f"• {_link(c)} — {t.money(c.amount, c.currency)}" for c in changes], t
            )
        ]
        if as_dm:
            blocks = [*message.blocks, *(block for reply in thread for block in reply.blocks)]
            return ChannelPost(SlackMessage(message.text, blocks))
        return ChannelPost(message, thread=thread)


def what_changed(change: Change, t: Translator) -> list[str]:
    """Before → after for each tracked field that moved."""
    lines = []
    if change.stage_moved:
        lines.append(
            t._(
                "Stage: {before} → *{after}*",
                before=escape(change.before_stage_label or ""),
                after=escape(change.stage_label),
            )
        )
    if change.before_amount is not None and change.amount != change.before_amount:
        before = t.money(change.before_amount, change.currency)
        after = t.money(change.amount, change.currency)
        percent = change.amount_change_percent
        if percent is None:
            lines.append(t._("Amount: {before} → *{after}*", before=before, after=after))
        else:
            # Whole percent, signed: "+20%" / "+20 %".
            change_text = ("+" if percent >= 0 else "") + t.percent(round(percent) / 100)
            lines.append(
                t._("Amount: {before} → *{after}* ({change})", before=before, after=after, change=change_text)
            )
    if change.before_close_date is not None and change.close_date != change.before_close_date:
        before = t.date(change.before_close_date)
        after = t.date(change.close_date)
        pushed = change.close_pushed_days
        if pushed:
            signed = f"{pushed:+d}"
            lines.append(
                t.n_(
                    "Close date: {before} → *{after}* ({days} day)",
                    "Close date: {before} → *{after}* ({days} days)",
                    abs(pushed),
                    before=before,
                    after=after,
                    days=signed,
                )
            )
        else:
            lines.append(t._("Close date: {before} → *{after}*", before=before, after=after))
    if change.owner_moved:
        lines.append(
            t._(
                "Owner: {before} → *{after}*",
                before=escape(change.before_owner_name or t._("nobody")),
                after=escape(change.owner_name),
            )
        )
    return lines


def _listing(lines: Sequence[str], t: Translator) -> list[tuple[int, int, str]]:
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
    rest = "\n" + t._("…and {count} more.", count=t.number(len(lines) - shown)) if shown < len(lines) else ""
    chunks.append((first, shown, "\n".join(current) + rest))
    return chunks


def _link(change: Change) -> str:
    return f"*<{change.url}|{escape(change.deal_name)}>*"


def _plain(change: Change, t: Translator) -> str:
    """The notification text: escaped too, or a deal named `<!channel>` would ping everyone."""
    name = escape(change.deal_name)
    if change.is_won and change.stage_moved:
        return t._("🎉 {deal} is won", deal=name)
    if change.is_new:
        return t._("New deal: {deal}", deal=name)
    return t._("{deal} changed", deal=name)


def _totals(changes: Sequence[Change], t: Translator) -> str:
    """The amounts per currency (never added across currencies)."""
    by_currency: dict[str, list[Change]] = {}
    for change in changes:
        if change.amount is not None:
            by_currency.setdefault(change.currency or "", []).append(change)
    parts = []
    for currency, group in sorted(by_currency.items()):
        total = sum((c.amount for c in group if c.amount is not None), Decimal(0))
        parts.append(t.money(total, currency or None))
    return " + ".join(parts)
