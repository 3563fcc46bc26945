"""Reports as Block Kit: the pipeline digest and the adoption report for channels, the 1:1 prep DM.

Pure functions from the rituals' dataclasses to SlackMessage / ChannelPost, kept inside Slack's
limits (50 blocks a message, 3,000 characters a section, 150 a header): what the main message cuts
goes to its thread. Amounts of different currencies are shown side by side, never added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from core.i18n import MISSING, N_, Translator
from handlers.blocks import SECTION_LIMIT, Block, context, escape, mrkdwn, text
from rituals.adoption import AdoptionReport, NudgeAnswers, RepAdoption, WeekPoint
from rituals.digest import (
    CLOSING_SOON_DAYS,
    HISTORY_STARTS,
    NO_HISTORY,
    NOBODY,
    REASON_NO_NEXT_STEP,
    REASON_PAST_CLOSE,
    REASON_STALE,
    ChangeGroup,
    DealChange,
    DecisionDeal,
    Decisions,
    PipelineDigest,
    PipelineTotals,
    describe,
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
THE_CRM = N_("the CRM")


@dataclass(frozen=True, slots=True)
class _Section:
    text: str
    items: int
    """Deal (or rep) lines in it, so a cut thread can say how many were left out."""


# --------------------------------------------------------------------------------------------
# Pipeline digest


def render_digest(digest: PipelineDigest, *, mention: str | None = None, t: Translator) -> ChannelPost:
    """The weekly digest: pipeline tables, what changed, what needs a decision; overflow in the thread."""
    prefix = f"{mention} " if mention else ""
    has_since = digest.since is not None
    # Every table leaves room for the mention, so whichever comes first can take it.
    tables = [_pipeline_text(p, has_since, SECTION_LIMIT - len(prefix), t) for p in digest.pipelines]
    if not tables:
        tables = [t._("No open deals in the pipeline right now.")]
    tables[0] = prefix + tables[0]

    day = t.day(digest.as_of)
    head: list[Block] = [
        _header(t._("Pipeline digest — {day}", day=day)),
        context(_digest_context(digest, t)),
    ]
    tail: list[Block] = []
    if len(digest.pipelines) > 1:
        tail.append(mrkdwn(_totals_text(digest, t)))
    change_blocks, change_thread = _changes(digest, t)
    decision_block, decision_thread = _decisions(digest, t)
    tail += [_divider(), *change_blocks, _divider(), decision_block]

    room = MAX_BLOCKS - len(head) - len(tail)
    shown, moved = tables, []
    if len(tables) > room:
        shown, moved = tables[: room - 1], tables[room - 1 :]
    middle = [mrkdwn(table) for table in shown]
    if moved:
        middle.append(
            context(
                t.n_(
                    "…and {n} more pipeline in the thread.",
                    "…and {n} more pipelines in the thread.",
                    len(moved),
                )
            )
        )

    thread_sections = [_Section(table, 0) for table in moved] + change_thread + decision_thread
    return ChannelPost(
        message=SlackMessage(prefix + _digest_fallback(digest, t), [*head, *middle, *tail]),
        thread=_thread(
            thread_sections, t._("Pipeline digest for {day}", day=day), "deal", _crm(digest.crm_label, t), t
        ),
    )


def _digest_context(digest: PipelineDigest, t: Translator) -> str:
    zone = getattr(digest.as_of.tzinfo, "key", None) or digest.as_of.tzname()
    time = t.clock(digest.as_of)
    parts = [
        t._("Open deals as of {time} ({zone})", time=time, zone=zone)
        if zone
        else t._("Open deals as of {time}", time=time)
    ]
    if digest.since is not None:
        parts.append(t._("changes since {day}", day=t.day(digest.since)))
    parts.append(t._("from {crm}", crm=_crm(digest.crm_label, t)))
    lines = [" · ".join(parts)]
    note = _history_note(digest, t)
    if note:  # warnings are for the admin (run summary, logs), not the channel
        lines.append(escape(note))
    return "\n".join(lines)


def _history_note(digest: PipelineDigest, t: Translator) -> str | None:
    """Why changes do not go back as far as asked: no history yet, or since it starts."""
    if digest.history_note is None:
        return None
    if digest.since is None:
        return t._(NO_HISTORY)
    return t._(HISTORY_STARTS, day=t.date(digest.since.date()))


def _pipeline_text(pipeline: PipelineTotals, with_change: bool, limit: int, t: Translator) -> str:
    name = f"*{_clip(pipeline.label, 100)}*" + (
        f" ({escape(pipeline.currency)})" if pipeline.currency else ""
    )
    if pipeline.deals == 0:
        return t._("{name} — no open deals", name=name)

    def money(amount: Decimal) -> str:
        return t.money(amount, pipeline.currency)

    title = _open_deals_line(name, pipeline.deals, money(pipeline.amount), money(pipeline.weighted), t)
    head = [
        t._("Stage"),
        t._("Deals"),
        t._("Amount"),
        t._("Weighted"),
        *([t._("vs before")] if with_change else []),
    ]
    rows = [
        [
            text(s.label.replace("`", "'"), STAGE_WIDTH),
            t.number(s.deals),
            money(s.amount),
            money(s.weighted),
            *([_signed(s.deals - s.deals_before)] if with_change else []),
        ]
        for s in pipeline.stages
    ]
    lines = _columns([head, *rows])
    for kept in range(len(rows), -1, -1):
        left = len(rows) - kept
        body = lines[: kept + 1] + (
            [t.n_("…and {n} more stage", "…and {n} more stages", left)] if kept < len(rows) else []
        )
        table = escape("\n".join(body))
        value = f"{title}\n```\n{table}\n```"
        if len(value) <= limit:
            return value
    return text(title, limit)


def _open_deals_line(name: str, deals: int, amount: str, weighted: str, t: Translator) -> str:
    return t.n_(
        "{name} — {n} open deal · {amount} · weighted {weighted}",
        "{name} — {n} open deals · {amount} · weighted {weighted}",
        deals,
        name=name,
        amount=amount,
        weighted=weighted,
    )


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


def _totals_text(digest: PipelineDigest, t: Translator) -> str:
    if not digest.totals:
        return t._("{name} — no open deals", name=t._("*Total*"))
    return "\n".join(
        _open_deals_line(
            t._("*Total* ({currency})", currency=escape(total.currency))
            if total.currency
            else t._("*Total*"),
            total.deals,
            t.money(total.amount, total.currency),
            t.money(total.weighted, total.currency),
            t,
        )
        for total in digest.totals
    )


def _changes(digest: PipelineDigest, t: Translator) -> tuple[list[Block], list[_Section]]:
    groups = [g for g in digest.changes if g.count]
    if digest.since is None:
        return [mrkdwn(t._("*Changes*\nNothing to compare with yet."))], []
    since = t.day(digest.since)
    if not groups:
        return [mrkdwn(t._("No changes since {day}.", day=since))], []
    summary = " · ".join(_summary_part(g, t) for g in groups)
    blocks = [mrkdwn(t._("*Changes since {day}*\n{summary}", day=since, summary=summary))]
    thread: list[_Section] = []
    crm = _crm(digest.crm_label, t)
    for group in groups:
        title = escape(t._(group.title))
        lines = [_change_line(d, group.kind, owner=True, t=t) for d in group.deals]
        value, shown = _fit(f"*{title}*", lines, CHANGES_SHOWN, _more(group.count, len(lines), crm, t))
        blocks.append(mrkdwn(value))
        rest = lines[shown:]
        if group.count > len(lines):  # only the most telling are kept; the CRM has the others
            rest.append(_more_in_crm(group.count - len(lines), crm, t))
        thread += _sections(t._("*{title}* (continued)", title=title), rest)
    return blocks, thread


def _summary_part(group: ChangeGroup, t: Translator) -> str:
    part = escape(_kind_count(group, t))
    amounts = _amounts(group.totals, t)
    return f"{part} ({amounts})" if amounts else part


def _kind_count(group: ChangeGroup, t: Translator) -> str:
    """ "3 new", "1 won": how many deals changed this way, as the summary line says it."""
    n = group.count
    match group.kind:
        case "new":
            return t.n_("{n} new", "{n} new", n)
        case "forward":
            return t.n_("{n} moved forward", "{n} moved forward", n)
        case "back":
            return t.n_("{n} moved back", "{n} moved back", n)
        case "won":
            return t.n_("{n} won", "{n} won", n)
        case "lost":
            return t.n_("{n} lost", "{n} lost", n)
        case "slipped":
            return t.n_("{n} close date slipped", "{n} close dates slipped", n)
        case "amount":
            return t.n_("{n} amount change", "{n} amount changes", n)
    return f"{t.number(n)} {t._(group.title).lower()}"


def _change_line(deal: DealChange, kind: str, *, owner: bool, t: Translator) -> str:
    parts = [f"• {_link(deal.url, deal.name, t)}"]
    # An amount change's detail already reads "€10,000 → €12,000".
    if deal.amount is not None and kind != "amount":
        parts.append(t.money(deal.amount, deal.currency))
    if owner:
        parts.append(_owner(deal.owner_name, t))
    line = " · ".join(parts)
    detail = describe(deal.detail, t)
    return f"{line} — {_clip(detail, 200)}" if detail else line


def _decisions(digest: PipelineDigest, t: Translator) -> tuple[Block, list[_Section]]:
    decisions = digest.decisions
    if decisions.total == 0:
        return mrkdwn(t._("Nothing needs a decision this week 🎉")), []
    today = digest.as_of.date()
    lines = [_decision_line(d, today, t) for d in decisions.deals]
    crm = _crm(digest.crm_label, t)

    value, shown = _fit(
        _decisions_head(digest, t), lines, DECISIONS_SHOWN, _more(decisions.total, len(lines), crm, t)
    )
    thread = _sections(t._("*{title}* (continued)", title=t._("Need a decision")), lines[shown:])
    beyond = decisions.total - len(lines)
    if thread and beyond > 0:
        note = _more_in_crm(beyond, crm, t)
        last = thread[-1]
        if len(last.text) + 1 + len(note) <= SECTION_LIMIT:
            thread[-1] = _Section(f"{last.text}\n{note}", last.items)
        else:
            thread.append(_Section(note, 0))
    return mrkdwn(value), thread


def _decisions_head(digest: PipelineDigest, t: Translator) -> str:
    decisions: Decisions = digest.decisions
    head = t.n_(
        "*{n} deal needs a decision this week*", "*{n} deals need a decision this week*", decisions.total
    )
    days = digest.stale_after_days

    def counted(reason: str, count: int) -> str:
        if reason == REASON_PAST_CLOSE:
            return t.n_("{n} past close date", "{n} past close date", count)
        if reason == REASON_NO_NEXT_STEP:
            return t.n_(
                "{n} closing within {days} days without a next step",
                "{n} closing within {days} days without a next step",
                count,
                days=CLOSING_SOON_DAYS,
            )
        if reason == REASON_STALE:
            return t.n_(
                "{n} stale (no touch for {days}+ days)",
                "{n} stale (no touch for {days}+ days)",
                count,
                days=days,
            )
        return f"{t.number(count)} {escape(reason)}"

    parts = [counted(reason, count) for reason, count in decisions.by_reason.items() if count]
    return f"{head} — {' · '.join(parts)}" if parts else head


def _decision_line(deal: DecisionDeal, today: date, t: Translator) -> str:
    parts = [f"• {_link(deal.url, deal.name, t)}"]
    if deal.amount is not None:
        parts.append(t.money(deal.amount, deal.currency))
    parts.append(_owner(deal.owner_name, t))
    reasons = []
    for reason in deal.reasons:
        if reason == REASON_PAST_CLOSE and deal.close_date is not None:
            reasons.append(t._("past close date ({day})", day=_short_date(deal.close_date, today, t)))
        elif reason == REASON_NO_NEXT_STEP and deal.close_date is not None:
            reasons.append(t._("closes {day}, no next step", day=_short_date(deal.close_date, today, t)))
        else:
            reasons.append(escape(t._(reason)))
    line = " · ".join(parts)
    return f"{line} — {', '.join(reasons)}" if reasons else line


def _digest_fallback(digest: PipelineDigest, t: Translator) -> str:
    deals = sum(total.deals for total in digest.totals)
    amounts = "; ".join(t.money(total.amount, total.currency) for total in digest.totals)
    pipeline = (
        t.n_("{n} open deal ({amounts})", "{n} open deals ({amounts})", deals, amounts=amounts)
        if deals
        else t._("no open deals")
    )
    n = digest.decisions.total
    need = (
        t._("nothing needs a decision") if n == 0 else t.n_("{n} needs a decision", "{n} need a decision", n)
    )
    return t._(
        "Pipeline digest for {day}: {pipeline}; {decisions}.",
        day=t.day(digest.as_of),
        pipeline=pipeline,
        decisions=need,
    )


# --------------------------------------------------------------------------------------------
# Adoption report


def render_adoption(report: AdoptionReport, *, t: Translator) -> ChannelPost:
    """Who is on track, celebrated; who is catching up, summed up in one line; a ranking only when asked."""
    # The trend's last point is this week in the ritual's zone; `as_of` may be UTC.
    week = report.trend[-1].week_start if report.trend else report.as_of.date()
    monday = week - timedelta(days=week.weekday())
    head: list[Block] = [
        _header(t._("Adoption — week of {day}", day=t.day_month(monday))),
        mrkdwn("\n".join(filter(None, (_team_line(report, t), _trend_line(report.trend, t))))),
    ]
    if report.ranking:
        lines = [f"{i}. {_rep_line(rep, t)}" for i, rep in enumerate(report.reps, 1)]
        rep_sections = _sections(t._("*Everyone, most up to date first*"), lines)
    else:
        rep_sections = _sections(t._("*On track* 🎉"), [_rep_line(rep, t) for rep in report.on_track])
    tail: list[Block] = []
    if not report.ranking and report.catching_up:
        tail.append(mrkdwn(_catching_up_line(report.catching_up, t)))
    tail.append(
        context(
            t._(
                "Reviewed = a note, call, meeting, email or field change by the rep in the last "
                "{days} days, or a snooze. Threshold {threshold}.",
                days=report.window_days,
                threshold=t.percent(_percent(report.threshold) / 100),
            )
        )
    )
    room = MAX_BLOCKS - len(head) - len(tail)
    shown, moved = rep_sections, []
    if len(rep_sections) > room:
        shown, moved = rep_sections[: room - 1], rep_sections[room - 1 :]
    middle = [mrkdwn(s.text) for s in shown]
    if moved:
        left = sum(s.items for s in moved)
        middle.append(
            context(t.n_("…and {n} more rep in the thread.", "…and {n} more reps in the thread.", left))
        )
    share = report.team_share
    fallback = (
        t._(
            "Adoption report: {share} of open deals reviewed within {days} days.",
            share=_shown_percent(share, t),
            days=report.window_days,
        )
        if share is not None
        else t._("Adoption report: no open deals yet.")
    )
    return ChannelPost(
        message=SlackMessage(fallback, [*head, *middle, *tail]),
        thread=_thread(moved, t._("Adoption report"), "rep", t._(THE_CRM), t),
    )


def _team_line(report: AdoptionReport, t: Translator) -> str:
    share = report.team_share
    if share is None:
        return t._("No open deals yet — nothing to review this week.")
    now = _percent(share)
    line = t._(
        "*{share}* of open deals reviewed within {days} days",
        share=_shown_percent(share, t),
        days=report.window_days,
    )
    last = report.team_share_last_week
    if last is None:
        return line
    before = _percent(last)
    shown_before = _shown_percent(last, t)
    if now > before:
        return t.n_(
            "{line} (last week {before}, up {n} point)",
            "{line} (last week {before}, up {n} points)",
            now - before,
            line=line,
            before=shown_before,
        )
    # A dip is stated plainly, without dwelling on it.
    if now == before:
        return t._("{line} (same as last week)", line=line)
    return t._("{line} (last week {before})", line=line, before=shown_before)


def _trend_line(trend: Sequence[WeekPoint], t: Translator) -> str | None:
    known = [p for p in trend if p.share is not None]
    if len(known) < 2:
        return None
    weeks = (known[-1].week_start - known[0].week_start).days // 7 + 1
    return t._(
        "{weeks}-week trend: {first} → {last}",
        weeks=weeks,
        first=_shown_percent(known[0].share or 0, t),
        last=_shown_percent(known[-1].share or 0, t),
    )


def _rep_line(rep: RepAdoption, t: Translator) -> str:
    parts = [
        t._("no open deals")
        if rep.open_deals == 0
        else t._("{reviewed} of {total} reviewed", reviewed=rep.reviewed, total=rep.open_deals),
        _answers(rep.answers, t),
    ]
    if rep.streak:
        parts.append(t.n_("{n} week in a row 🎉", "{n} weeks in a row 🎉", rep.streak))
    return f"*{_clip(rep.name, 80)}* — " + " · ".join(parts)


def _answers(answers: NudgeAnswers | None, t: Translator) -> str:
    if answers is None:
        return t._("not matched in Slack yet")
    if answers.nudged == 0:
        return t._("no nudges needed")
    answered = t.n_(
        "answered {answered} of {n} nudge",
        "answered {answered} of {n} nudges",
        answers.nudged,
        answered=answers.answered,
    )
    if answers.median_answer is None:
        return answered
    return t._(
        "{answered}, median {duration}", answered=answered, duration=_duration(answers.median_answer, t)
    )


def _duration(value: timedelta, t: Translator) -> str:
    seconds = value.total_seconds()
    minutes = round(seconds / 60)
    if minutes < 60:
        return t._("{minutes} min", minutes=t.number(max(minutes, 1)))
    hours = round(seconds / 3600, 1)
    if hours < 24:
        return t._("{hours} h", hours=t.number(hours))
    days = round(seconds / 86400, 1)
    if days == 1:
        return t._("{days} day", days=t.number(days))
    return t._("{days} days", days=t.number(days))


def _catching_up_line(reps: Sequence[RepAdoption], t: Translator) -> str:
    """Names only, alphabetically: no per-person figures, no order by score."""
    names = sorted((_clip(r.name, 80) for r in reps), key=str.casefold)
    to_look = sum(r.open_deals - r.reviewed for r in reps)

    def line(who: str, several: bool) -> str:
        if several:
            return t.n_(
                "Catching up: {names} — {n} deal between them to look at; their nudges will help.",
                "Catching up: {names} — {n} deals between them to look at; their nudges will help.",
                to_look,
                names=who,
            )
        return t.n_(
            "Catching up: {names} — {n} deal to look at; their nudges will help.",
            "Catching up: {names} — {n} deals to look at; their nudges will help.",
            to_look,
            names=who,
        )

    for listed in range(len(names), 0, -1):
        others = len(names) - listed
        shown = [*names[:listed], *([t.n_("{n} other", "{n} others", others)] if others else [])]
        value = line(t.join(shown), len(names) > 1)
        if len(value) <= SECTION_LIMIT:
            return value
    return text(line(t.n_("{n} rep", "{n} reps", len(names)), True))


# --------------------------------------------------------------------------------------------
# 1:1 prep


def render_prep(brief: PrepBrief, *, t: Translator) -> SlackMessage:
    """A manager's brief before a 1:1: pipeline, changes, stale and at-risk deals, three questions;
    `t` is the manager's language (the brief's flags and questions were written in it)."""
    rep = _clip(brief.rep_name, 80)
    blocks: list[Block] = [
        _header(t._("1:1 prep: {rep}", rep=brief.rep_name)),
        mrkdwn(_prep_pipeline(brief, t)),
    ]
    if brief.first_prep:
        title, nothing = t._("*This past week*"), t._("No changes in the CRM this past week.")
    else:
        title = t._("*Since your last prep ({day})*", day=t.day(brief.since))
        nothing = t._("No changes in the CRM since then.")
    lines: list[str] = []
    for group in (g for g in brief.changes if g.deals):
        lines.append(f"_{escape(t._(group.title))}_")
        lines += [_change_line(d, group.kind, owner=False, t=t) for d in group.deals[:PREP_CHANGES_SHOWN]]
        if group.count > PREP_CHANGES_SHOWN:
            lines.append(t._("…and {count} more", count=t.number(group.count - PREP_CHANGES_SHOWN)))
    blocks += [mrkdwn(s.text) for s in _sections(title, lines or [nothing])]
    for heading, deals, more in (
        (t._("*Stale*"), brief.stale, brief.more_stale),
        (t._("*At risk*"), brief.at_risk, brief.more_at_risk),
    ):
        if deals:
            listed = [_prep_deal_line(d, t) for d in deals]
            if more:
                listed.append(t._("…and {count} more", count=t.number(more)))
            blocks += [mrkdwn(s.text) for s in _sections(heading, listed)]
    if brief.questions:
        questions = [f"{i}. {_clip(q, 500)}" for i, q in enumerate(brief.questions[:3], 1)]
        blocks += [mrkdwn(s.text) for s in _sections(t._("*Questions to ask*"), questions)]
    blocks.append(
        context(
            t._(
                "Prepared by Drumbeat for {manager} from {rep}'s deals in the CRM.",
                manager=_clip(brief.manager_name, 80),
                rep=rep,
            )
        )
    )
    # The brief lists a handful of deals; the cut only guards against a caller passing hundreds.
    return SlackMessage(_prep_fallback(brief, t), blocks[:MAX_BLOCKS])


def _prep_pipeline(brief: PrepBrief, t: Translator) -> str:
    if brief.open_deals == 0:
        return t._("No open deals right now.")
    if not brief.pipeline:
        return t.n_("{n} open deal", "{n} open deals", brief.open_deals)
    return "\n".join(
        t.n_(
            "{n} open deal · {amount} (weighted {weighted})",
            "{n} open deals · {amount} (weighted {weighted})",
            total.deals,
            amount=t.money(total.amount, total.currency),
            weighted=t.money(total.weighted, total.currency),
        )
        for total in brief.pipeline
    )


def _prep_deal_line(deal: PrepDeal, t: Translator) -> str:
    """The deal's amount and flags come written in the manager's language."""
    parts = [f"• {_link(deal.url, deal.name, t)}", _clip(deal.stage_label, 80)]
    if deal.amount != MISSING:
        parts.append(escape(deal.amount))
    line = " · ".join(parts)
    return f"{line} — {escape(', '.join(deal.flags))}" if deal.flags else line


def _prep_fallback(brief: PrepBrief, t: Translator) -> str:
    rep = escape(brief.rep_name)
    if brief.open_deals == 0:
        return t._("1:1 prep for {rep}: no open deals.", rep=rep)
    return t.n_(
        "1:1 prep for {rep}: {n} open deal, {stale} stale, {at_risk} at risk.",
        "1:1 prep for {rep}: {n} open deals, {stale} stale, {at_risk} at risk.",
        brief.open_deals,
        rep=rep,
        stale=len(brief.stale) + brief.more_stale,
        at_risk=len(brief.at_risk) + brief.more_at_risk,
    )


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


def _more(total: int, listed: int, crm: str, t: Translator) -> Callable[[int], str | None]:
    """ "…and N more": in the thread while it lists some of them, else in the CRM."""

    def line(shown: int) -> str | None:
        if total <= shown:
            return None
        if listed > shown:
            return t._("_…and {count} more in the thread_", count=t.number(total - shown))
        return f"_{_more_in_crm(total - shown, crm, t)}_"

    return line


def _more_in_crm(count: int, crm: str, t: Translator) -> str:
    return t._("…and {count} more: open {crm} to see them all", count=t.number(count), crm=crm)


def _thread(sections: list[_Section], title: str, noun: str, crm: str, t: Translator) -> list[SlackMessage]:
    """Replies of at most 50 blocks, at most THREAD_MESSAGES of them; a last line counts what was cut."""
    room = THREAD_MESSAGES * MAX_BLOCKS
    blocks = [mrkdwn(s.text) for s in sections[:room]]
    if len(sections) > room:
        left = sum(s.items for s in sections[room - 1 :])
        cut = (
            t.n_(
                "…and {n} more rep left out here: open {crm} to see them all.",
                "…and {n} more reps left out here: open {crm} to see them all.",
                left,
                crm=crm,
            )
            if noun == "rep"
            else t.n_(
                "…and {n} more deal left out here: open {crm} to see them all.",
                "…and {n} more deals left out here: open {crm} to see them all.",
                left,
                crm=crm,
            )
        )
        blocks[room - 1 :] = [context(cut)]
    chunks = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    if len(chunks) == 1:
        return [SlackMessage(t._("{title}, continued", title=title), chunks[0])]
    return [
        SlackMessage(t._("{title}, continued ({i} of {count})", title=title, i=i, count=len(chunks)), c)
        for i, c in enumerate(chunks, 1)
    ]


def _link(url: str, name: str, t: Translator) -> str:
    # A "|" would end the link text early; the rest is Slack's usual escaping.
    label = escape(text(" ".join(name.replace("|", " ").split()), 150)) or t._("Untitled deal")
    return f"<{url}|{label}>"


def _clip(value: str, limit: int) -> str:
    """Cut before escaping, so an entity like &amp; is never split."""
    return escape(text(value, limit))


def _owner(name: str, t: Translator) -> str:
    return _clip(t._(NOBODY) if name == NOBODY else name, 80)


def _crm(label: str, t: Translator) -> str:
    """The CRM's name as the reader says it ("HubSpot" stays, "the CRM" is translated)."""
    return escape(t._(label))


def _amounts(totals: Sequence[tuple[str | None, Decimal]], t: Translator) -> str:
    # A group of deals without amounts sums to zero: not worth showing.
    return "; ".join(t.money(amount, currency) for currency, amount in totals if amount)


def _signed(n: int) -> str:
    if n == 0:
        return ""
    # A true minus sign, as wide as the plus, reads better in the table than a hyphen.
    return f"+{n}" if n > 0 else f"\N{MINUS SIGN}{-n}"


def _percent(share: float) -> int:
    return math.floor(share * 100 + 0.5)


def _shown_percent(share: float, t: Translator) -> str:
    """A share as whole percent, `74%` / `74 %`, rounded as the comparisons between weeks are."""
    return t.percent(_percent(share) / 100)


def _short_date(value: date, today: date, t: Translator) -> str:
    return t.day_month(value) if value.year == today.year else t.date(value)
