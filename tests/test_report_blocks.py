"""How the digest, adoption report and 1:1 prep read in Slack, and that they stay inside Slack's limits."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.demo.render import blocks_to_text
from core.i18n import translator
from handlers import reports
from rituals.adoption import AdoptionReport, NudgeAnswers, RepAdoption, WeekPoint
from rituals.digest import (
    CHANGE_TITLES,
    REASON_NO_NEXT_STEP,
    REASON_PAST_CLOSE,
    REASON_STALE,
    ChangeGroup,
    CurrencyTotal,
    DealChange,
    DecisionDeal,
    Decisions,
    PipelineDigest,
    PipelineTotals,
    StageTotal,
)
from rituals.posts import ChannelPost, SlackMessage
from rituals.prep import PrepBrief, PrepDeal

PARIS = ZoneInfo("Europe/Paris")
AS_OF = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
SINCE = datetime(2026, 11, 23, 8, 0, tzinfo=PARIS)
KINDS = ("new", "forward", "back", "won", "lost", "slipped", "amount")
NASTY = "R&D <Tools> | Ltd"
EN = translator("en")


def render_digest(digest: PipelineDigest, *, mention: str | None = None) -> ChannelPost:
    return reports.render_digest(digest, mention=mention, t=EN)


def render_adoption(report: AdoptionReport) -> ChannelPost:
    return reports.render_adoption(report, t=EN)


def render_prep(brief: PrepBrief) -> SlackMessage:
    return reports.render_prep(brief, t=EN)


# --------------------------------------------------------------------------------------------
# Builders


def stage(label: str, deals: int, amount: int, weighted: int, before: int | None = None) -> StageTotal:
    return StageTotal(
        stage_id=label.lower(),
        label=label,
        probability=0.5,
        deals=deals,
        amount=Decimal(amount),
        weighted=Decimal(weighted),
        deals_before=deals if before is None else before,
        amount_before=Decimal(amount),
    )


def sales() -> PipelineTotals:
    return PipelineTotals(
        "sales",
        "Sales",
        "EUR",
        [
            stage("Qualified", 14, 734_000, 156_000, before=12),
            stage("Contract sent", 10, 500_000, 300_000, 11),
        ],
    )


def change(kind: str, n: int, *, name: str | None = None, amount: int | None = 10_000) -> DealChange:
    return DealChange(
        deal_id=f"{kind}-{n}",
        name=name or f"{kind.title()} deal {n:04d}",
        url=f"https://crm.example/deals/{kind}-{n}",
        owner_name="Alice Martin",
        pipeline_label="Sales",
        amount=None if amount is None else Decimal(amount),
        currency="EUR",
        detail="Contract sent",
    )


def group(
    kind: str, deals: list[DealChange], totals: list[tuple[str | None, Decimal]] | None = None
) -> ChangeGroup:
    return ChangeGroup(kind, CHANGE_TITLES[kind], deals, totals or [])


def decision(
    n: int, *, reasons: tuple[str, ...] = (REASON_STALE,), close: date | None = None
) -> DecisionDeal:
    return DecisionDeal(
        f"d{n}",
        f"Decision deal {n:04d}",
        f"https://crm.example/deals/d{n}",
        "Bruno Costa",
        Decimal(50_000 - n),
        "EUR",
        close,
        reasons,
    )


def digest(
    *,
    pipelines: list[PipelineTotals] | None = None,
    totals: list[CurrencyTotal] | None = None,
    changes: list[ChangeGroup] | None = None,
    decisions: Decisions | None = None,
    since: datetime | None = SINCE,
) -> PipelineDigest:
    pipelines = [sales()] if pipelines is None else pipelines
    return PipelineDigest(
        ritual_id="digest",
        as_of=AS_OF,
        since=since,
        compare_days=7,
        history_note=None,
        pipelines=pipelines,
        totals=totals
        if totals is not None
        else [CurrencyTotal("EUR", 24, Decimal(1_234_000), Decimal(456_000))],
        changes=changes if changes is not None else [group(k, []) for k in KINDS],
        decisions=decisions
        or Decisions([], 0, {REASON_PAST_CLOSE: 0, REASON_NO_NEXT_STEP: 0, REASON_STALE: 0}),
        stale_after_days=14,
        crm_label="HubSpot",
    )


def rep(
    name: str,
    open_deals: int,
    reviewed: int,
    *,
    answers: NudgeAnswers | None = None,
    streak: int = 0,
) -> RepAdoption:
    return RepAdoption(name.lower().replace(" ", "."), name, open_deals, reviewed, answers, streak)


def adoption(
    reps: list[RepAdoption], *, ranking: bool = False, trend: list[float | None] | None = None
) -> AdoptionReport:
    shares = trend if trend is not None else [0.52, None, 0.6, 0.65, 0.7, 0.72, 0.74, 0.81]
    start = date(2026, 11, 30) - timedelta(weeks=len(shares) - 1)
    return AdoptionReport(
        ritual_id="adoption",
        as_of=datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("UTC")),
        window_days=14,
        threshold=0.8,
        ranking=ranking,
        reps=reps,
        trend=[WeekPoint(start + timedelta(weeks=i), s) for i, s in enumerate(shares)],
    )


def prep_deal(name: str, flags: tuple[str, ...], amount: str = "€12,000") -> PrepDeal:
    return PrepDeal(
        name.lower(), name, f"https://crm.example/deals/{name.lower()}", "Contract sent", amount, None, flags
    )


def brief(**overrides: Any) -> PrepBrief:
    values: dict[str, Any] = {
        "ritual_id": "prep",
        "manager_name": "Dana Scully",
        "rep_owner_id": "alice",
        "rep_name": "Alice Martin",
        "as_of": AS_OF,
        "since": datetime(2026, 11, 24, 9, 0, tzinfo=PARIS),
        "first_prep": False,
        "open_deals": 12,
        "pipeline": [CurrencyTotal("EUR", 12, Decimal(340_000), Decimal(120_000))],
        "changes": [group(k, []) for k in KINDS],
        "stale": [prep_deal("Acme", ("untouched for 32 days",))],
        "at_risk": [prep_deal("Globex", ("past close date (12 Nov)", "close date pushed 2 times"))],
        "more_stale": 2,
        "more_at_risk": 1,
        "questions": ["Acme slipped twice — what changed?", "Is <Globex> still alive?", "Where can I help?"],
    }
    values.update(overrides)
    return PrepBrief(**values)


# --------------------------------------------------------------------------------------------
# Checks


def section_texts(message: SlackMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def all_text(message: SlackMessage) -> str:
    return "\n".join(
        section_texts(message)
        + [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
    )


def assert_within_limits(message: SlackMessage) -> None:
    assert message.text.strip()
    assert 1 <= len(message.blocks) <= 50
    ids = [b["block_id"] for b in message.blocks if "block_id" in b]
    assert len(ids) == len(set(ids))
    for block in message.blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"].strip()) <= 3000
        elif block["type"] == "context":
            assert all(0 < len(e["text"].strip()) <= 3000 for e in block["elements"])
        else:
            assert block["type"] == "divider"


def assert_post_within_limits(post: ChannelPost) -> None:
    assert len(post.thread) <= 10
    for message in [post.message, *post.thread]:
        assert_within_limits(message)


def line_with(texts: list[str], start: str) -> str:
    lines = [line for t in texts for line in t.split("\n") if line.startswith(start)]
    assert len(lines) == 1, lines
    return lines[0]


# --------------------------------------------------------------------------------------------
# Digest


def test_digest_header_context_totals_and_stage_table() -> None:
    post = render_digest(digest(), mention="<!subteam^S0SALES>")
    message = post.message

    assert message.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Pipeline digest — Mon 30 Nov", "emoji": True},
    }
    assert message.blocks[1]["elements"][0]["text"] == (
        "Open deals as of 08:00 (Europe/Paris) · changes since Mon 23 Nov · from HubSpot"
    )
    first = section_texts(message)[0]
    assert first.startswith(
        "<!subteam^S0SALES> *Sales* (EUR) — 24 open deals · €1,234,000 · weighted €456,000\n```"
    )
    assert message.text.startswith(
        "<!subteam^S0SALES> Pipeline digest for Mon 30 Nov: 24 open deals (€1,234,000);"
    )
    table = first.split("```")[1].strip("\n").split("\n")
    assert table[0].split() == ["Stage", "Deals", "Amount", "Weighted", "vs", "before"]
    assert table[1].split() == ["Qualified", "14", "€734,000", "€156,000", "+2"]
    assert table[2].split() == ["Contract", "sent", "10", "€500,000", "€300,000", "\N{MINUS SIGN}1"]
    # Right-aligned: a number column ends at the same place on every row.
    assert table[0].index("Amount") + 6 == table[1].index("€734,000") + 8 == table[2].index("€500,000") + 8
    assert not any("*Total*" in t for t in section_texts(message))
    assert post.thread == []


def test_digest_without_history_has_no_change_column_and_says_why() -> None:
    note = "No history yet: changes show from the next digest on."
    message = render_digest(replace(digest(since=None, changes=[]), history_note=note)).message

    context_text = message.blocks[1]["elements"][0]["text"]
    assert context_text == (
        "Open deals as of 08:00 (Europe/Paris) · from HubSpot\n"
        "No history yet: changes show from the next digest on."
    )
    assert "vs before" not in section_texts(message)[0]
    assert "Nothing to compare with yet." in all_text(message)
    assert not message.text.startswith("<!")


def test_multi_currency_totals_are_listed_separately_never_summed() -> None:
    usd = PipelineTotals("us", "US sales", "USD", [stage("Qualified", 3, 3_000, 1_000)])
    renewals = PipelineTotals("renewals", "Renewals", None, [stage("Open", 0, 0, 0)])
    totals = [
        CurrencyTotal("EUR", 24, Decimal(1_234_000), Decimal(456_000)),
        CurrencyTotal("USD", 3, Decimal(3_000), Decimal(1_000)),
    ]
    new = group(
        "new",
        [change("new", 1, amount=45_000), change("new", 2, amount=3_000)],
        [("EUR", Decimal(45_000)), ("USD", Decimal(3_000))],
    )
    post = render_digest(digest(pipelines=[sales(), usd, renewals], totals=totals, changes=[new]))
    texts = section_texts(post.message)

    assert "*Renewals* — no open deals" in texts
    assert (
        line_with(texts, "*Total* (EUR)") == "*Total* (EUR) — 24 open deals · €1,234,000 · weighted €456,000"
    )
    assert line_with(texts, "*Total* (USD)") == "*Total* (USD) — 3 open deals · US$3,000 · weighted US$1,000"
    assert line_with(texts, "2 new") == "2 new (€45,000; US$3,000)"
    assert (
        post.message.text
        == "Pipeline digest for Mon 30 Nov: 27 open deals (€1,234,000; US$3,000); nothing needs a decision."
    )
    everything = all_text(post.message) + post.message.text
    for summed in ("1,237,000", "48,000", "457,000"):
        assert summed not in everything


def test_change_summary_group_lines_and_decisions() -> None:
    changes = [
        group("new", [change("new", i, amount=15_000) for i in range(3)], [("EUR", Decimal(45_000))]),
        group("forward", [change("forward", i) for i in range(5)]),
        group("back", [change("back", i) for i in range(2)]),
        group(
            "won",
            [change("won", 1, name="Acme renewal", amount=12_000), change("won", 2, amount=68_000)],
            [("EUR", Decimal(80_000))],
        ),
        group("lost", [change("lost", 1, amount=12_000)], [("EUR", Decimal(12_000))]),
        group("slipped", [change("slipped", i) for i in range(4)]),
        group("amount", [change("amount", i) for i in range(6)]),
    ]
    decisions = Decisions(
        [
            decision(1, reasons=(REASON_PAST_CLOSE, REASON_STALE), close=date(2026, 11, 12)),
            decision(2, reasons=(REASON_NO_NEXT_STEP,), close=date(2026, 12, 4)),
            decision(3, reasons=(REASON_PAST_CLOSE,), close=date(2025, 10, 1)),
        ],
        12,
        {REASON_PAST_CLOSE: 5, REASON_NO_NEXT_STEP: 4, REASON_STALE: 6},
    )
    post = render_digest(digest(changes=changes, decisions=decisions))
    texts = section_texts(post.message)

    assert line_with(texts, "3 new") == (
        "3 new (€45,000) · 5 moved forward · 2 moved back · 2 won (€80,000) · 1 lost (€12,000)"
        " · 4 close dates slipped · 6 amount changes"
    )
    won = next(t for t in texts if t.startswith("*Won*"))
    assert (
        won.split("\n")[1]
        == "• <https://crm.example/deals/won-1|Acme renewal> · €12,000 · Alice Martin — Contract sent"
    )
    amount = next(t for t in texts if t.startswith("*Biggest amount changes*"))
    assert amount.split("\n")[-1] == "_…and 1 more in the thread_"
    assert len(amount.split("\n")) == 1 + 5 + 1
    assert line_with(texts, "*12 deals need a decision this week*") == (
        "*12 deals need a decision this week* — 5 past close date"
        " · 4 closing within 14 days without a next step · 6 stale (no touch for 14+ days)"
    )
    assert line_with(texts, "• <https://crm.example/deals/d1|") == (
        "• <https://crm.example/deals/d1|Decision deal 0001> · €49,999 · Bruno Costa"
        " — past close date (12 Nov), stale"
    )
    assert line_with(texts, "• <https://crm.example/deals/d2|").endswith("— closes 4 Dec, no next step")
    assert line_with(texts, "• <https://crm.example/deals/d3|").endswith("— past close date (1 Oct 2025)")
    assert line_with(texts, "_…and 9 more") == "_…and 9 more: open HubSpot to see them all_"
    assert post.message.text.endswith("; 12 need a decision.")
    # Only the amount group spills over.
    assert [line for m in post.thread for t in section_texts(m) for line in t.split("\n")] == [
        "*Biggest amount changes* (continued)",
        "• <https://crm.example/deals/amount-5|Amount deal 0005> · Alice Martin — Contract sent",
    ]


def test_no_changes_and_no_decisions_read_kindly() -> None:
    texts = section_texts(render_digest(digest()).message)

    assert "No changes since Mon 23 Nov." in texts
    assert "Nothing needs a decision this week 🎉" in texts


def test_deal_names_are_escaped_in_link_text() -> None:
    won = group("won", [change("won", 1, name=NASTY)], [("EUR", Decimal(10_000))])
    decisions = Decisions(
        [DecisionDeal("x", NASTY, "https://crm.example/deals/x", "Bo", None, None, None, (REASON_STALE,))],
        1,
        {REASON_STALE: 1},
    )
    message = render_digest(digest(changes=[won], decisions=decisions)).message
    texts = section_texts(message)

    assert (
        "• <https://crm.example/deals/won-1|R&amp;D &lt;Tools&gt; Ltd> · €10,000 · Alice Martin"
        " — Contract sent" in "\n".join(texts)
    )
    assert "• <https://crm.example/deals/x|R&amp;D &lt;Tools&gt; Ltd> · Bo — stale" in "\n".join(texts)
    for t in texts:
        for link in re.findall(r"<https://[^>]*>", t):
            assert link.count("|") == 1
    assert "<Tools>" not in "\n".join(texts)
    assert "R&D <Tools> Ltd · €10,000 · Alice Martin — Contract sent" in blocks_to_text(message.blocks)


def test_digest_reads_well_as_terminal_text() -> None:
    won = group("won", [change("won", 1, name="Acme renewal", amount=12_000)], [("EUR", Decimal(12_000))])
    text = blocks_to_text(render_digest(digest(changes=[won])).message.blocks)

    assert text.startswith("PIPELINE DIGEST — MON 30 NOV\n")
    assert "Sales (EUR) — 24 open deals · €1,234,000 · weighted €456,000" in text
    assert "Acme renewal · €12,000 · Alice Martin — Contract sent" in text
    assert "1 won (€12,000)" in text
    assert "*" not in text and "&amp;" not in text and "<https" not in text


def test_500_changes_and_500_decisions_stay_within_limits_and_every_deal_appears_once() -> None:
    counts = {"new": 180, "forward": 90, "back": 60, "won": 50, "lost": 40, "slipped": 45, "amount": 35}
    assert sum(counts.values()) == 500
    changes = [
        group(kind, [change(kind, i, name=f"{kind}-deal-{i:04d} " + "x" * (i % 40)) for i in range(n)])
        for kind, n in counts.items()
    ]
    decisions = Decisions([decision(i) for i in range(200)], 500, {REASON_STALE: 500})
    post = render_digest(digest(changes=changes, decisions=decisions), mention="<!subteam^S0SALES>")

    assert_post_within_limits(post)
    assert post.thread
    everything = "\n".join(all_text(m) for m in [post.message, *post.thread])
    for kind, n in counts.items():
        found = Counter(re.findall(rf"\|({kind}-deal-\d{{4}})", everything))
        assert found == Counter({f"{kind}-deal-{i:04d}": 1 for i in range(n)}), kind
        main = Counter(re.findall(rf"\|({kind}-deal-\d{{4}})", all_text(post.message)))
        assert len(main) == 5
    shown = Counter(re.findall(r"Decision deal (\d{4})", everything))
    assert shown == Counter({f"{i:04d}": 1 for i in range(200)})
    assert "_…and 490 more in the thread_" in all_text(post.message)
    assert all_text(post.thread[-1]).endswith("…and 300 more: open HubSpot to see them all")


def test_40_pipelines_fit_and_the_rest_go_to_the_thread() -> None:
    stages = [stage(f"Stage {s} with a long label", 3, 30_000, 9_000, before=2) for s in range(12)]
    pipelines = [PipelineTotals(f"p{i}", f"Pipeline {i:02d}", "EUR", stages) for i in range(40)]
    changes = [group(k, [change(k, i) for i in range(8)]) for k in KINDS]
    decisions = Decisions([decision(i) for i in range(30)], 30, {REASON_STALE: 30})
    post = render_digest(digest(pipelines=pipelines, changes=changes, decisions=decisions))

    assert_post_within_limits(post)
    everything = "\n".join(all_text(m) for m in [post.message, *post.thread])
    assert Counter(re.findall(r"\*(Pipeline \d\d)\*", everything)) == Counter(
        {f"Pipeline {i:02d}": 1 for i in range(40)}
    )
    in_main = re.findall(r"\*(Pipeline \d\d)\*", all_text(post.message))
    assert in_main == [f"Pipeline {i:02d}" for i in range(len(in_main))]
    assert f"…and {40 - len(in_main)} more pipelines in the thread." in all_text(post.message)
    assert "*Total* (EUR)" in all_text(post.message)


def test_a_huge_thread_is_capped_at_ten_messages_and_counts_what_was_left_out() -> None:
    deals = [change("new", i, name=f"Imported deal {i:05d} " + "y" * 60) for i in range(12_000)]
    post = render_digest(digest(changes=[group("new", deals, [("EUR", Decimal(120_000_000))])]))

    assert_post_within_limits(post)
    assert len(post.thread) == 10
    listed = len(
        re.findall(r"Imported deal \d{5}", "\n".join(all_text(m) for m in [post.message, *post.thread]))
    )
    last = post.thread[-1].blocks[-1]["elements"][0]["text"]
    assert last == f"…and {12_000 - listed:,} more deals left out here: open HubSpot to see them all."


# --------------------------------------------------------------------------------------------
# Adoption


def team() -> list[RepAdoption]:
    return [
        rep("Alice Martin", 12, 12, answers=NudgeAnswers(10, 9, timedelta(hours=2)), streak=8),
        rep("Bruno Costa", 10, 5, answers=NudgeAnswers(4, 1, timedelta(minutes=45))),
        rep("Chloé Dubois", 8, 4, answers=None, streak=1),
        rep("Dan Evans", 0, 0, answers=NudgeAnswers(0, 0, None), streak=1),
        rep("Eve Fox", 5, 5, answers=NudgeAnswers(2, 2, timedelta(hours=36))),
    ]


def test_adoption_celebrates_on_track_and_sums_up_catching_up_without_figures() -> None:
    post = render_adoption(adoption(team(), trend=[0.52, 0.6, 0.65, 0.7, 0.72, 0.73, 0.74, 0.74]))
    message = post.message
    texts = section_texts(message)

    assert message.blocks[0]["text"]["text"] == "Adoption — week of 30 Nov"
    assert (
        texts[0] == "*74%* of open deals reviewed within 14 days (same as last week)\n8-week trend: 52% → 74%"
    )
    assert line_with(texts, "*Alice Martin*") == (
        "*Alice Martin* — 12 of 12 reviewed · answered 9 of 10 nudges, median 2 h · 8 weeks in a row 🎉"
    )
    assert (
        line_with(texts, "*Dan Evans*")
        == "*Dan Evans* — no open deals · no nudges needed · 1 week in a row 🎉"
    )
    assert (
        line_with(texts, "*Eve Fox*")
        == "*Eve Fox* — 5 of 5 reviewed · answered 2 of 2 nudges, median 1.5 days"
    )
    catching = line_with(texts, "Catching up:")
    assert catching == (
        "Catching up: Bruno Costa and Chloé Dubois — 9 deals between them to look at; their nudges will help."
    )
    assert "*Bruno Costa*" not in "\n".join(texts)
    assert "*Chloé Dubois*" not in "\n".join(texts)
    assert message.blocks[-1]["elements"][0]["text"] == (
        "Reviewed = a note, call, meeting, email or field change by the rep in the last 14 days, or a snooze."
        " Threshold 80%."
    )
    assert message.text == "Adoption report: 74% of open deals reviewed within 14 days."
    assert post.thread == []
    assert_within_limits(message)


def test_team_line_compares_with_last_week_and_trend_skips_missing_weeks() -> None:
    reps = [rep("Alice Martin", 100, 81)]
    texts = section_texts(render_adoption(adoption(reps)).message)
    assert (
        texts[0]
        == "*81%* of open deals reviewed within 14 days (last week 74%, up 7 points)\n8-week trend: 52% → 81%"
    )

    texts = section_texts(render_adoption(adoption(reps, trend=[None, None, 0.6, None, 0.81])).message)
    assert texts[0] == "*81%* of open deals reviewed within 14 days\n3-week trend: 60% → 81%"


def test_nudge_median_formats_and_unmatched_reps() -> None:
    reps = [
        rep("Ann", 1, 1, answers=NudgeAnswers(3, 2, timedelta(minutes=45))),
        rep("Ben", 1, 1, answers=NudgeAnswers(3, 0, None)),
        rep("Cy", 1, 1, answers=None),
    ]
    texts = section_texts(render_adoption(adoption(reps)).message)

    assert line_with(texts, "*Ann*") == "*Ann* — 1 of 1 reviewed · answered 2 of 3 nudges, median 45 min"
    assert line_with(texts, "*Ben*") == "*Ben* — 1 of 1 reviewed · answered 0 of 3 nudges"
    assert line_with(texts, "*Cy*") == "*Cy* — 1 of 1 reviewed · not matched in Slack yet"


def test_ranking_lists_every_rep_numbered_in_the_given_order() -> None:
    ranked = [team()[4], team()[0], team()[2], team()[1], team()[3]]
    texts = section_texts(render_adoption(adoption(ranked, ranking=True)).message)
    numbered = [line for t in texts for line in t.split("\n") if re.match(r"\d+\. ", line)]

    assert [re.findall(r"^(\d+)\. \*([^*]+)\*", line)[0] for line in numbered] == [
        ("1", "Eve Fox"),
        ("2", "Alice Martin"),
        ("3", "Chloé Dubois"),
        ("4", "Bruno Costa"),
        ("5", "Dan Evans"),
    ]
    assert numbered[3] == "4. *Bruno Costa* — 5 of 10 reviewed · answered 1 of 4 nudges, median 45 min"
    assert not any(line.startswith("Catching up") for t in texts for line in t.split("\n"))


def test_adoption_with_no_open_deals() -> None:
    post = render_adoption(
        adoption([rep("Alice Martin", 0, 0, answers=NudgeAnswers(0, 0, None))], trend=[None] * 8)
    )
    texts = section_texts(post.message)

    assert texts[0] == "No open deals yet — nothing to review this week."
    assert line_with(texts, "*Alice Martin*") == "*Alice Martin* — no open deals · no nudges needed"
    assert post.message.text == "Adoption report: no open deals yet."
    assert_within_limits(post.message)


def test_many_reps_stay_within_limits_with_the_rest_in_the_thread() -> None:
    reps = [
        rep(f"Rep {i:04d} " + "z" * 40, 10, 10, answers=NudgeAnswers(5, 5, timedelta(hours=3)), streak=i)
        for i in range(1500)
    ]
    reps.append(rep("Zoe Late", 10, 2))
    post = render_adoption(adoption(reps))

    assert_post_within_limits(post)
    assert post.thread
    everything = "\n".join(all_text(m) for m in [post.message, *post.thread])
    assert Counter(re.findall(r"\*(Rep \d{4})", everything)) == Counter(
        {f"Rep {i:04d}": 1 for i in range(1500)}
    )
    assert "Catching up: Zoe Late — 8 deals to look at; their nudges will help." in section_texts(
        post.message
    )


def test_adoption_reads_well_as_terminal_text() -> None:
    text = blocks_to_text(render_adoption(adoption(team())).message.blocks)

    assert text.startswith("ADOPTION — WEEK OF 30 NOV\n")
    assert (
        "Alice Martin — 12 of 12 reviewed · answered 9 of 10 nudges, median 2 h · 8 weeks in a row 🎉" in text
    )
    assert "Catching up: Bruno Costa and Chloé Dubois" in text


# --------------------------------------------------------------------------------------------
# 1:1 prep


def test_prep_lists_pipeline_changes_stale_at_risk_and_numbered_questions() -> None:
    won = group(
        "won", [change("won", i, amount=1_000 * (i + 1)) for i in range(5)], [("EUR", Decimal(15_000))]
    )
    message = render_prep(brief(changes=[group("new", []), won]))
    texts = section_texts(message)

    assert message.blocks[0]["text"]["text"] == "1:1 prep: Alice Martin"
    assert texts[0] == "12 open deals · €340,000 (weighted €120,000)"
    assert texts[1].split("\n") == [
        "*Since your last prep (Tue 24 Nov)*",
        "_Won_",
        "• <https://crm.example/deals/won-0|Won deal 0000> · €1,000 — Contract sent",
        "• <https://crm.example/deals/won-1|Won deal 0001> · €2,000 — Contract sent",
        "• <https://crm.example/deals/won-2|Won deal 0002> · €3,000 — Contract sent",
        "…and 2 more",
    ]
    assert texts[2] == (
        "*Stale*\n"
        "• <https://crm.example/deals/acme|Acme> · Contract sent · €12,000 — untouched for 32 days\n"
        "…and 2 more"
    )
    assert texts[3].startswith(
        "*At risk*\n• <https://crm.example/deals/globex|Globex> · Contract sent · €12,000"
        " — past close date (12 Nov), close date pushed 2 times\n"
    )
    assert texts[4] == (
        "*Questions to ask*\n"
        "1. Acme slipped twice — what changed?\n"
        "2. Is &lt;Globex&gt; still alive?\n"
        "3. Where can I help?"
    )
    assert message.blocks[-1]["elements"][0]["text"] == (
        "Prepared by Drumbeat for Dana Scully from Alice Martin's deals in the CRM."
    )
    assert message.text == "1:1 prep for Alice Martin: 12 open deals, 3 stale, 2 at risk."
    assert_within_limits(message)


def test_prep_with_no_deals_and_first_prep() -> None:
    message = render_prep(
        brief(open_deals=0, pipeline=[], stale=[], at_risk=[], more_stale=0, more_at_risk=0, first_prep=True)
    )
    texts = section_texts(message)

    assert texts[0] == "No open deals right now."
    assert texts[1] == "*This past week*\nNo changes in the CRM this past week."
    assert not any(t.startswith(("*Stale*", "*At risk*")) for t in texts)
    assert texts[2].startswith("*Questions to ask*\n1. ")
    assert message.text == "1:1 prep for Alice Martin: no open deals."
    assert_within_limits(message)


def test_prep_since_last_with_nothing_changed_and_two_currencies() -> None:
    pipeline = [
        CurrencyTotal("EUR", 10, Decimal(300_000), Decimal(100_000)),
        CurrencyTotal("CHF", 2, Decimal(3_000), Decimal(1_000)),
    ]
    texts = section_texts(render_prep(brief(pipeline=pipeline)))

    assert (
        texts[0] == "10 open deals · €300,000 (weighted €100,000)\n"
        "2 open deals · CHF\u00a03,000 (weighted CHF\u00a01,000)"
    )
    assert texts[1] == "*Since your last prep (Tue 24 Nov)*\nNo changes in the CRM since then."


def test_prep_reads_well_as_terminal_text() -> None:
    text = blocks_to_text(render_prep(brief()).blocks)

    assert text.startswith("1:1 PREP: ALICE MARTIN\n12 open deals · €340,000 (weighted €120,000)\n")
    assert "Acme · Contract sent · €12,000 — untouched for 32 days" in text
    assert "2. Is <Globex> still alive?" in text


def test_a_change_kind_with_more_deals_than_kept_sends_the_rest_to_the_crm() -> None:
    kept = [change("forward", i) for i in range(7)]
    many = ChangeGroup("forward", CHANGE_TITLES["forward"], kept, [], total=1_234)
    post = render_digest(digest(changes=[many]))
    main = blocks_to_text(post.message.blocks)
    assert "1,234 moved forward" in main
    assert "…and 1,229 more in the thread" in main
    thread = "\n".join(blocks_to_text(m.blocks) for m in post.thread)
    assert "Forward deal 0006" in thread
    assert "…and 1,227 more: open HubSpot to see them all" in thread
