"""Reports as Block Kit: the pipeline digest and the adoption report for channels, the 1:1 prep DM.

Pure functions from the rituals' dataclasses to SlackMessage / ChannelPost, kept inside Slack's
limits (50 blocks a message, 3,000 characters a section, 150 a header): what the main message cuts
goes to its thread. Amounts of different currencies are shown side by side, never added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from core.formatting import format_date, format_money
from handlers.blocks import SECTION_LIMIT, Block, context, escape, mrkdwn, text
from rituals.adoption import AdoptionReport, NudgeAnswers, RepAdoption, WeekPoint
from rituals.digest import (
    CLOSING_SOON_DAYS,
    REASON_NO_NEXT_STEP,
    REASON_PAST_CLOSE,
    REASON_STALE,
    ChangeGroup,
    DealChange,
    DecisionDeal,
    Decisions,
    PipelineDigest,
    PipelineTotals,
)
from rituals.posts import ChannelPost, SlackMessage
from rituals.prep import PrepBrief, PrepDeal

__all__ = ["render_adoption", "render_digest", "render_prep"]

MAX_BLOCKS = 50
HEADER_LIMIT = 150
THREAD_MESSAGES = 10
CHANGES_SHOWN = 5
DECISIONS_SHOWN = 10
PREP_CHANGES_SHOWN = 3
STAGE_WIDTH = 28
SUMMARY_WORDS = {
    "new": ("new", "new"),
    "forward": ("moved forward", "moved forward"),
    "back": ("moved back", "moved back"),
    "won": ("won", "won"),
    "lost": ("lost", "lost"),
    "slipped": ("close date slipped", "close dates slipped"),
    "amount": ("amount change", "amount changes"),
}


@dataclass(frozen=True, slots=True)
class _Section:
    text: str
    items: int
    """Deal (or rep) lines in it, so a cut thread can say how many were left out."""


# --------------------------------------------------------------------------------------------
# Pipeline digest


def render_digest(digest: PipelineDigest, *, mention: str | None = None) -> ChannelPost:
    """The weekly digest: pipeline tables, what changed, what needs a decision; overflow in the thread."""
    prefix = f"{mention} " if mention else ""
    has_since = digest.since is not None
    # Every table leaves room for the mention, so whichever comes first can take it.
    tables = [_pipeline_text(p, has_since, SECTION_LIMIT - len(prefix)) for p in digest.pipelines]
    if not tables:
        tables = ["No open deals in the pipeline right now."]
    tables[0] = prefix + tables[0]

    head: list[Block] = [_header(f"Pipeline digest — {_day(digest.as_of)}"), context(_digest_context(digest))]
    tail: list[Block] = []
    if len(digest.pipelines) > 1:
        tail.append(mrkdwn(_totals_text(digest)))
    change_blocks, change_thread = _changes(digest)
    decision_block, decision_thread = _decisions(digest)
    tail += [_divider(), *change_blocks, _divider(), decision_block]

    room = MAX_BLOCKS - len(head) - len(tail)
    shown, moved = tables, []
    if len(tables) > room:
        shown, moved = tables[: room - 1], tables[room - 1 :]
    middle = [mrkdwn(t) for t in shown]
    if moved:
        middle.append(context(f"…and {_plural(len(moved), 'more pipeline')} in the thread."))

    day = _day(digest.as_of)
    thread_sections = [_Section(t, 0) for t in moved] + change_thread + decision_thread
    return ChannelPost(
        message=SlackMessage(prefix + _digest_fallback(digest), [*head, *middle, *tail]),
        thread=_thread(thread_sections, f"Pipeline digest for {day}", "deal", escape(digest.crm_label)),
    )


def _digest_context(digest: PipelineDigest) -> str:
    zone = getattr(digest.as_of.tzinfo, "key", None) or digest.as_of.tzname()
    parts = [f"Open deals as of {digest.as_of:%H:%M}" + (f" ({zone})" if zone else "")]
    if digest.since is not None:
        parts.append(f"changes since {_day(digest.since)}")
    parts.append(f"from {escape(digest.crm_label)}")
    lines = [" · ".join(parts)]
    if digest.history_note:  # warnings are for the admin (run summary, logs), not the channel
        lines.append(escape(digest.history_note))
    return "\n".join(lines)


def _pipeline_text(pipeline: PipelineTotals, with_change: bool, limit: int) -> str:
    name = f"*{_clip(pipeline.label, 100)}*" + (
        f" ({escape(pipeline.currency)})" if pipeline.currency else ""
    )
    if pipeline.deals == 0:
        return f"{name} — no open deals"

    def money(amount: Decimal) -> str:
        return format_money(amount, pipeline.currency)

    title = (
        f"{name} — {_plural(pipeline.deals, 'open deal')} · {money(pipeline.amount)}"
        f" · weighted {money(pipeline.weighted)}"
    )
    head = ["Stage", "Deals", "Amount", "Weighted", *(["vs before"] if with_change else [])]
    rows = [
        [
            text(s.label.replace("`", "'"), STAGE_WIDTH),
            str(s.deals),
            money(s.amount),
            money(s.weighted),
            *([_signed(s.deals - s.deals_before)] if with_change else []),
        ]
        for s in pipeline.stages
    ]
    lines = _columns([head, *rows])
    for kept in range(len(rows), -1, -1):
        body = lines[: kept + 1] + (
            [f"…and {_plural(len(rows) - kept, 'more stage')}"] if kept < len(rows) else []
        )
        table = escape("\n".join(body))
        value = f"{title}\n```\n{table}\n```"
        if len(value) <= limit:
            return value
    return text(title, limit)


def _columns(rows: list[list[str]]) -> list[str]:
    """A monospace table: the first column left-aligned, the numbers right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _totals_text(digest: PipelineDigest) -> str:
    if not digest.totals:
        return "*Total* — no open deals"
    return "\n".join(
        (f"*Total* ({escape(t.currency)})" if t.currency else "*Total*")
        + f" — {_plural(t.deals, 'open deal')} · {format_money(t.amount, t.currency)}"
        f" · weighted {format_money(t.weighted, t.currency)}"
        for t in digest.totals
    )


def _changes(digest: PipelineDigest) -> tuple[list[Block], list[_Section]]:
    groups = [g for g in digest.changes if g.count]
    if digest.since is None:
        return [mrkdwn("*Changes*\nNothing to compare with yet.")], []
    since = _day(digest.since)
    if not groups:
        return [mrkdwn(f"No changes since {since}.")], []
    summary = " · ".join(_summary_part(g) for g in groups)
    blocks = [mrkdwn(f"*Changes since {since}*\n{summary}")]
    thread: list[_Section] = []
    crm = escape(digest.crm_label)
    for group in groups:
        lines = [_change_line(d, group.kind, owner=True) for d in group.deals]
        value, shown = _fit(
            f"*{escape(group.title)}*", lines, CHANGES_SHOWN, _more(group.count, len(lines), crm)
        )
        blocks.append(mrkdwn(value))
        rest = lines[shown:]
        if group.count > len(lines):  # only the most telling are kept; the CRM has the others
            rest.append(f"…and {group.count - len(lines):,} more: open {crm} to see them all")
        thread += _sections(f"*{escape(group.title)}* (continued)", rest)
    return blocks, thread


def _summary_part(group: ChangeGroup) -> str:
    one, many = SUMMARY_WORDS.get(group.kind, (group.title.lower(), group.title.lower()))
    part = f"{group.count:,} {escape(one if group.count == 1 else many)}"
    amounts = _amounts(group.totals)
    return f"{part} ({amounts})" if amounts else part


def _change_line(deal: DealChange, kind: str, *, owner: bool) -> str:
    parts = [f"• {_link(deal.url, deal.name)}"]
    # An amount change's detail already reads "€10,000 → €12,000".
    if deal.amount is not None and kind != "amount":
        parts.append(format_money(deal.amount, deal.currency))
    if owner:
        parts.append(_clip(deal.owner_name, 80))
    line = " · ".join(parts)
    return f"{line} — {_clip(deal.detail, 200)}" if deal.detail else line


def _decisions(digest: PipelineDigest) -> tuple[Block, list[_Section]]:
    decisions = digest.decisions
    if decisions.total == 0:
        return mrkdwn("Nothing needs a decision this week 🎉"), []
    today = digest.as_of.date()
    lines = [_decision_line(d, today) for d in decisions.deals]
    crm = escape(digest.crm_label)

    value, shown = _fit(
        _decisions_head(digest), lines, DECISIONS_SHOWN, _more(decisions.total, len(lines), crm)
    )
    thread = _sections("*Need a decision* (continued)", lines[shown:])
    beyond = decisions.total - len(lines)
    if thread and beyond > 0:
        note = f"…and {beyond:,} more: open {crm} to see them all"
        last = thread[-1]
        if len(last.text) + 1 + len(note) <= SECTION_LIMIT:
            thread[-1] = _Section(f"{last.text}\n{note}", last.items)
        else:
            thread.append(_Section(note, 0))
    return mrkdwn(value), thread


def _decisions_head(digest: PipelineDigest) -> str:
    decisions: Decisions = digest.decisions
    n = decisions.total
    head = f"*{_plural(n, 'deal')} {'needs' if n == 1 else 'need'} a decision this week*"
    words = {
        REASON_PAST_CLOSE: "past close date",
        REASON_NO_NEXT_STEP: f"closing within {CLOSING_SOON_DAYS} days without a next step",
        REASON_STALE: f"stale (no touch for {digest.stale_after_days}+ days)",
    }
    parts = [
        f"{count} {words.get(reason, escape(reason))}"
        for reason, count in decisions.by_reason.items()
        if count
    ]
    return f"{head} — {' · '.join(parts)}" if parts else head


def _decision_line(deal: DecisionDeal, today: date) -> str:
    parts = [f"• {_link(deal.url, deal.name)}"]
    if deal.amount is not None:
        parts.append(format_money(deal.amount, deal.currency))
    parts.append(_clip(deal.owner_name, 80))
    reasons = []
    for reason in deal.reasons:
        if reason == REASON_PAST_CLOSE and deal.close_date is not None:
            reasons.append(f"past close date ({_short_date(deal.close_date, today)})")
        elif reason == REASON_NO_NEXT_STEP and deal.close_date is not None:
            reasons.append(f"closes {_short_date(deal.close_date, today)}, no next step")
        else:
            reasons.append(escape(reason))
    line = " · ".join(parts)
    return f"{line} — {', '.join(reasons)}" if reasons else line


def _digest_fallback(digest: PipelineDigest) -> str:
    deals = sum(t.deals for t in digest.totals)
    amounts = "; ".join(format_money(t.amount, t.currency) for t in digest.totals)
    pipeline = f"{_plural(deals, 'open deal')} ({amounts})" if deals else "no open deals"
    n = digest.decisions.total
    need = "nothing needs a decision" if n == 0 else f"{n} {'needs' if n == 1 else 'need'} a decision"
    return f"Pipeline digest for {_day(digest.as_of)}: {pipeline}; {need}."


# --------------------------------------------------------------------------------------------
# Adoption report


def render_adoption(report: AdoptionReport) -> ChannelPost:
    """Who is on track, celebrated; who is catching up, summed up in one line; a ranking only when asked."""
    # The trend's last point is this week in the ritual's zone; `as_of` may be UTC.
    week = report.trend[-1].week_start if report.trend else report.as_of.date()
    head: list[Block] = [
        _header(f"Adoption — week of {_day_month(week - timedelta(days=week.weekday()))}"),
        mrkdwn("\n".join(filter(None, (_team_line(report), _trend_line(report.trend))))),
    ]
    if report.ranking:
        lines = [f"{i}. {_rep_line(rep)}" for i, rep in enumerate(report.reps, 1)]
        rep_sections = _sections("*Everyone, most up to date first*", lines)
    else:
        rep_sections = _sections("*On track* 🎉", [_rep_line(rep) for rep in report.on_track])
    tail: list[Block] = []
    if not report.ranking and report.catching_up:
        tail.append(mrkdwn(_catching_up_line(report.catching_up)))
    threshold = _percent(report.threshold)
    tail.append(
        context(
            f"Reviewed = a note, call, meeting, email or field change by the rep in the last "
            f"{report.window_days} days, or a snooze. Threshold {threshold}%."
        )
    )
    room = MAX_BLOCKS - len(head) - len(tail)
    shown, moved = rep_sections, []
    if len(rep_sections) > room:
        shown, moved = rep_sections[: room - 1], rep_sections[room - 1 :]
    middle = [mrkdwn(s.text) for s in shown]
    if moved:
        middle.append(context(f"…and {_plural(sum(s.items for s in moved), 'more rep')} in the thread."))
    share = report.team_share
    reviewed = (
        f"{_percent(share)}% of open deals reviewed within {report.window_days} days"
        if share is not None
        else "no open deals yet"
    )
    return ChannelPost(
        message=SlackMessage(f"Adoption report: {reviewed}.", [*head, *middle, *tail]),
        thread=_thread(moved, "Adoption report", "rep", "the CRM"),
    )


def _team_line(report: AdoptionReport) -> str:
    share = report.team_share
    if share is None:
        return "No open deals yet — nothing to review this week."
    now = _percent(share)
    line = f"*{now}%* of open deals reviewed within {report.window_days} days"
    last = report.team_share_last_week
    if last is None:
        return line
    before = _percent(last)
    if now > before:
        return f"{line} (last week {before}%, up {_plural(now - before, 'point')})"
    # A dip is stated plainly, without dwelling on it.
    return f"{line} (same as last week)" if now == before else f"{line} (last week {before}%)"


def _trend_line(trend: Sequence[WeekPoint]) -> str | None:
    known = [p for p in trend if p.share is not None]
    if len(known) < 2:
        return None
    weeks = (known[-1].week_start - known[0].week_start).days // 7 + 1
    return f"{weeks}-week trend: " + " → ".join(f"{_percent(p.share or 0)}%" for p in (known[0], known[-1]))


def _rep_line(rep: RepAdoption) -> str:
    parts = [
        "no open deals" if rep.open_deals == 0 else f"{rep.reviewed} of {rep.open_deals} reviewed",
        _answers(rep.answers),
    ]
    if rep.streak:
        parts.append(f"{_plural(rep.streak, 'week')} in a row 🎉")
    return f"*{_clip(rep.name, 80)}* — " + " · ".join(parts)


def _answers(answers: NudgeAnswers | None) -> str:
    if answers is None:
        return "not matched in Slack yet"
    if answers.nudged == 0:
        return "no nudges needed"
    answered = f"answered {answers.answered} of {_plural(answers.nudged, 'nudge')}"
    if answers.median_answer is None:
        return answered
    return f"{answered}, median {_duration(answers.median_answer)}"


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = round(seconds / 3600, 1)
    if hours < 24:
        return f"{_trim(hours)} h"
    days = round(seconds / 86400, 1)
    return f"{_trim(days)} {'day' if days == 1 else 'days'}"


def _catching_up_line(reps: Sequence[RepAdoption]) -> str:
    """Names only, alphabetically: no per-person figures, no order by score."""
    names = sorted((_clip(r.name, 80) for r in reps), key=str.casefold)
    to_look = sum(r.open_deals - r.reviewed for r in reps)
    between = " between them" if len(names) > 1 else ""
    tail = f" — {_plural(to_look, 'deal')}{between} to look at; their nudges will help."
    for listed in range(len(names), 0, -1):
        others = len(names) - listed
        shown = [*names[:listed], *([_plural(others, "other")] if others else [])]
        line = f"Catching up: {_join(shown)}{tail}"
        if len(line) <= SECTION_LIMIT:
            return line
    return text(f"Catching up: {_plural(len(names), 'rep')}{tail}")


# --------------------------------------------------------------------------------------------
# 1:1 prep


def render_prep(brief: PrepBrief) -> SlackMessage:
    """A manager's brief before a 1:1: pipeline, changes, stale and at-risk deals, three questions."""
    blocks: list[Block] = [_header(f"1:1 prep: {brief.rep_name}"), mrkdwn(_prep_pipeline(brief))]
    if brief.first_prep:
        title, nothing = "*This past week*", "No changes in the CRM this past week."
    else:
        title, nothing = f"*Since your last prep ({_day(brief.since)})*", "No changes in the CRM since then."
    lines: list[str] = []
    for group in (g for g in brief.changes if g.deals):
        lines.append(f"_{escape(group.title)}_")
        lines += [_change_line(d, group.kind, owner=False) for d in group.deals[:PREP_CHANGES_SHOWN]]
        if group.count > PREP_CHANGES_SHOWN:
            lines.append(f"…and {group.count - PREP_CHANGES_SHOWN} more")
    blocks += [mrkdwn(s.text) for s in _sections(title, lines or [nothing])]
    for heading, deals, more in (
        ("*Stale*", brief.stale, brief.more_stale),
        ("*At risk*", brief.at_risk, brief.more_at_risk),
    ):
        if deals:
            listed = [_prep_deal_line(d) for d in deals] + ([f"…and {more} more"] if more else [])
            blocks += [mrkdwn(s.text) for s in _sections(heading, listed)]
    if brief.questions:
        questions = [f"{i}. {_clip(q, 500)}" for i, q in enumerate(brief.questions[:3], 1)]
        blocks += [mrkdwn(s.text) for s in _sections("*Questions to ask*", questions)]
    blocks.append(
        context(
            f"Prepared by Drumbeat for {_clip(brief.manager_name, 80)} from "
            f"{_clip(brief.rep_name, 80)}'s deals in the CRM."
        )
    )
    # The brief lists a handful of deals; the cut only guards against a caller passing hundreds.
    return SlackMessage(_prep_fallback(brief), blocks[:MAX_BLOCKS])


def _prep_pipeline(brief: PrepBrief) -> str:
    if brief.open_deals == 0:
        return "No open deals right now."
    if not brief.pipeline:
        return _plural(brief.open_deals, "open deal")
    return "\n".join(
        f"{_plural(t.deals, 'open deal')} · {format_money(t.amount, t.currency)}"
        f" (weighted {format_money(t.weighted, t.currency)})"
        for t in brief.pipeline
    )


def _prep_deal_line(deal: PrepDeal) -> str:
    parts = [f"• {_link(deal.url, deal.name)}", _clip(deal.stage_label, 80)]
    if deal.amount != format_money(None, None):
        parts.append(escape(deal.amount))
    line = " · ".join(parts)
    return f"{line} — {escape(', '.join(deal.flags))}" if deal.flags else line


def _prep_fallback(brief: PrepBrief) -> str:
    if brief.open_deals == 0:
        return f"1:1 prep for {escape(brief.rep_name)}: no open deals."
    stale = len(brief.stale) + brief.more_stale
    at_risk = len(brief.at_risk) + brief.more_at_risk
    deals = _plural(brief.open_deals, "open deal")
    return f"1:1 prep for {escape(brief.rep_name)}: {deals}, {stale} stale, {at_risk} at risk."


# --------------------------------------------------------------------------------------------
# Shared


def _header(value: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": text(value, HEADER_LIMIT), "emoji": True},
    }


def _divider() -> Block:
    return {"type": "divider"}


def _sections(title: str | None, lines: Sequence[str]) -> list[_Section]:
    """`title` then `lines`, packed into as few sections as fit; empty when there are no lines."""
    if not lines:
        return []
    out: list[_Section] = []
    current: list[str] = [text(title)] if title else []
    size, count = len(current[0]) if current else 0, 0
    for raw in lines:
        line = text(raw)
        if current and size + 1 + len(line) > SECTION_LIMIT:
            out.append(_Section("\n".join(current), count))
            current, size, count = [], 0, 0
        size += len(line) + (1 if current else 0)
        current.append(line)
        count += 1
    out.append(_Section("\n".join(current), count))
    return out


def _fit(head: str, lines: Sequence[str], most: int, more: Callable[[int], str | None]) -> tuple[str, int]:
    """`head`, then as many of the first `most` lines as fit in one section, then `more(shown)`."""
    for shown in range(min(most, len(lines)), -1, -1):
        tail = more(shown)
        value = "\n".join([head, *lines[:shown], *([tail] if tail else [])])
        if len(value) <= SECTION_LIMIT:
            return value, shown
    return text(head), 0


def _more(total: int, listed: int, crm: str) -> Callable[[int], str | None]:
    """ "…and N more": in the thread while it lists some of them, else in the CRM."""

    def line(shown: int) -> str | None:
        if total <= shown:
            return None
        if listed > shown:
            return f"_…and {total - shown:,} more in the thread_"
        return f"_…and {total - shown:,} more: open {crm} to see them all_"

    return line


def _thread(sections: list[_Section], title: str, noun: str, crm: str) -> list[SlackMessage]:
    """Replies of at most 50 blocks, at most THREAD_MESSAGES of them; a last line counts what was cut."""
    room = THREAD_MESSAGES * MAX_BLOCKS
    blocks = [mrkdwn(s.text) for s in sections[:room]]
    if len(sections) > room:
        left = sum(s.items for s in sections[room - 1 :])
        blocks[room - 1 :] = [
            context(f"…and {_plural(left, 'more ' + noun)} left out here: open {crm} to see them all.")
        ]
    chunks = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    if len(chunks) == 1:
        return [SlackMessage(f"{title}, continued", chunks[0])]
    return [SlackMessage(f"{title}, continued ({i} of {len(chunks)})", c) for i, c in enumerate(chunks, 1)]


def _link(url: str, name: str) -> str:
    # A "|" would end the link text early; the rest is Slack's usual escaping.
    label = escape(text(" ".join(name.replace("|", " ").split()), 150)) or "Untitled deal"
    return f"<{url}|{label}>"


def _clip(value: str, limit: int) -> str:
    """Cut before escaping, so an entity like &amp; is never split."""
    return escape(text(value, limit))


def _amounts(totals: Sequence[tuple[str | None, Decimal]]) -> str:
    # A group of deals without amounts sums to zero: not worth showing.
    return "; ".join(format_money(amount, currency) for currency, amount in totals if amount)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _signed(n: int) -> str:
    if n == 0:
        return ""
    # A true minus sign, as wide as the plus, reads better in the table than a hyphen.
    return f"+{n}" if n > 0 else f"\N{MINUS SIGN}{-n}"


def _percent(share: float) -> int:
    return math.floor(share * 100 + 0.5)


def _trim(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _day(value: date | datetime) -> str:
    return f"{value:%a} {value.day} {value:%b}"


def _day_month(value: date) -> str:
    return f"{value.day} {value:%b}"


def _short_date(value: date, today: date) -> str:
    return _day_month(value) if value.year == today.year else format_date(value)
