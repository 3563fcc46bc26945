"""The report charts: real PNGs of a sensible size, deterministic bytes, and alt text that reads the data."""

from __future__ import annotations

import math
import re

from core.i18n import translator
from rituals import charts
from rituals.charts import Chart, FunnelSeries, FunnelStage, TrendPoint

EN = translator("en")


def funnel_chart(series: list[FunnelSeries], **labels: str) -> Chart:
    return charts.funnel_chart(series, t=EN, **labels)


def trend_chart(points: list[TrendPoint], **labels: str) -> Chart:
    return charts.trend_chart(points, t=EN, **labels)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STAGES = [
    "Appointment scheduled",
    "Qualified to buy",
    "Presentation scheduled",
    "Decision maker bought-in",
    "Contract sent",
    "Closed won",
    "Closed lost",
]


def euros(value: float) -> str:
    return f"€{value:,.0f}"


def deals(value: float) -> str:
    return f"{value:.0f} deals"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which always comes first after the signature."""
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def two_pipelines() -> list[FunnelSeries]:
    sales = [FunnelStage(label, 12_500.0 * (7 - i), 11_000.0 * (7 - i)) for i, label in enumerate(STAGES)]
    renewals = [FunnelStage(label, float(9 - i), float(8 - i)) for i, label in enumerate(STAGES)]
    return [FunnelSeries("Sales (EUR)", sales, euros), FunnelSeries("Renewals", renewals, deals)]


def funnel(series: list[FunnelSeries], before_label: str = "Last week") -> Chart:
    return funnel_chart(
        series,
        now_label="This week",
        before_label=before_label,
        filename="pipeline-funnel-2026-11-30.png",
        title="Pipeline funnel: this week vs last week",
    )


def test_funnel_is_a_slide_sized_png_small_enough_for_slack() -> None:
    chart = funnel(two_pipelines())

    width, height = png_size(chart.png)
    assert width == 8 * 144
    assert 6 * 144 <= height <= 14 * 144
    assert len(chart.png) < 300_000
    assert chart.filename == "pipeline-funnel-2026-11-30.png"
    assert chart.title == "Pipeline funnel: this week vs last week"


def test_funnel_grows_with_stages_but_never_past_the_height_cap() -> None:
    one_stage = funnel([FunnelSeries("Sales", [FunnelStage("Won", 1.0, 2.0)], deals)])
    many = funnel([FunnelSeries(f"Pipeline {n}", two_pipelines()[1].stages, deals) for n in range(6)])

    assert png_size(one_stage.png)[1] < png_size(funnel(two_pipelines()).png)[1]
    assert png_size(many.png)[1] <= 14 * 144


def test_same_input_gives_identical_png_bytes() -> None:
    assert funnel(two_pipelines()).png == funnel(two_pipelines()).png
    points = [TrendPoint("12 Oct", 0.5), TrendPoint("19 Oct", None), TrendPoint("26 Oct", 0.75)]
    first = trend_chart(points, title="Reviewed", filename="trend.png")
    assert first.png == trend_chart(points, title="Reviewed", filename="trend.png").png


def test_funnel_alt_text_reads_every_stage_with_both_values() -> None:
    series = [
        FunnelSeries(
            "Sales (EUR)",
            [FunnelStage("Qualified", 12_500, 10_000), FunnelStage("Contract sent", 5_000, 6_250)],
            euros,
        ),
        FunnelSeries("Renewals", [FunnelStage("Négociation", 3, 0)], deals),
    ]

    chart = funnel(series, before_label="Since 23 Nov")

    assert chart.alt_text == (
        "Pipeline funnel: this week vs last week. "
        "Sales (EUR): Qualified €12,500 (was €10,000); Contract sent €5,000 (was €6,250). "
        "Renewals: Négociation 3 deals (was 0 deals)."
    )


def test_all_zero_pipeline_still_draws_and_says_no_open_deals() -> None:
    empty_week = FunnelSeries("Partners", [FunnelStage("Intro", 0, 0), FunnelStage("Deal", 0, 0)], euros)

    chart = funnel([empty_week])

    assert png_size(chart.png)[0] == 8 * 144
    assert chart.alt_text == "Pipeline funnel: this week vs last week. Partners: no open deals."


def test_pipeline_without_stages_is_named_as_such() -> None:
    chart = funnel([FunnelSeries("Renewals", [], deals), *two_pipelines()])

    png_size(chart.png)
    assert "Renewals: no stages. Sales (EUR): Appointment scheduled €87,500 (was €77,000);" in chart.alt_text


def test_no_pipelines_at_all_still_gives_an_image() -> None:
    chart = funnel([])

    width, height = png_size(chart.png)
    assert width == 8 * 144
    assert height >= 3 * 144
    assert chart.alt_text == "Pipeline funnel: this week vs last week. No pipelines to show."


def test_at_most_six_pipelines_drawn_and_the_rest_are_mentioned() -> None:
    small = [
        FunnelSeries(f"Pipeline {n}", [FunnelStage("Open", n, n), FunnelStage("Won", 1, 0)], deals)
        for n in range(1, 9)
    ]

    chart = funnel(small)

    assert "Pipeline 6: Open 6 deals (was 6 deals); Won 1 deals (was 0 deals)" in chart.alt_text
    assert "Pipeline 7" not in chart.alt_text
    assert chart.alt_text.endswith("; and 2 more pipelines not drawn.")


def test_alt_text_is_cut_at_a_word_under_slacks_limit_and_keeps_the_missing_note() -> None:
    many = [
        FunnelSeries(f"Pipeline {n}", [FunnelStage(f"Stage {s}", 10 * s, 9 * s) for s in range(12)], deals)
        for n in range(10)
    ]

    alt = funnel(many).alt_text

    assert len(alt) <= 1000
    match = re.fullmatch(r"(.*)…; and (\d+) more pipelines not drawn\.", alt)
    assert match is not None, alt
    assert int(match.group(2)) >= 4
    last_word = match.group(1).split()[-1]
    assert re.fullmatch(r"\(?(Stage|\d+|deals|was)\)?;?", last_word), last_word


def test_long_stage_labels_are_shortened_on_the_chart_but_kept_whole_in_the_alt_text() -> None:
    base = "Contract sent to the customer's legal department for review, redlines and signature"
    longer = base + " by the end of the quarter, pending procurement approval as well"
    assert len(base) >= 60

    def chart_for(label: str) -> Chart:
        return funnel([FunnelSeries("Sales", [FunnelStage(label, 4, 2), FunnelStage("Won", 1, 1)], deals)])

    first, second = chart_for(base), chart_for(longer)

    # Both labels draw as the same shortened text, so the plot area is not squeezed by the longer one.
    assert first.png == second.png
    assert png_size(first.png)[0] == 8 * 144
    assert f"{longer} 4 deals (was 2 deals)" in second.alt_text


def test_unicode_and_emoji_in_names_render_without_warnings() -> None:
    # pytest turns warnings into errors here, so a missing glyph would fail this test.
    series = [FunnelSeries("Ventes 🚀 (€)", [FunnelStage("Qualifié ✓", 1_500, 900)], euros)]

    chart = funnel(series, before_label="Depuis le 23 nov. 🎯")

    png_size(chart.png)
    assert "Ventes 🚀 (€): Qualifié ✓ €1,500 (was €900)." in chart.alt_text


def test_trend_is_a_small_png_and_reads_gaps_as_no_data() -> None:
    points = [
        TrendPoint("12 Oct", 0.62),
        TrendPoint("19 Oct", None),
        TrendPoint("26 Oct", math.nan),
        TrendPoint("2 Nov", 0.7),
        TrendPoint("30 Nov", 0.81),
    ]

    chart = trend_chart(points, title="Open deals reviewed", filename="review-trend.png")

    assert png_size(chart.png) == (6 * 144, int(2.5 * 144))
    assert chart.filename == "review-trend.png"
    assert chart.alt_text == (
        "Open deals reviewed: 12 Oct 62%, 19 Oct no data, 26 Oct no data, 2 Nov 70%, 30 Nov 81%."
    )


def test_trend_without_history_says_so() -> None:
    for points in ([], [TrendPoint("12 Oct", None), TrendPoint("19 Oct", None)]):
        chart = trend_chart(points, title="Open deals reviewed", filename="review-trend.png")

        assert png_size(chart.png) == (6 * 144, int(2.5 * 144))
        assert chart.alt_text == "Open deals reviewed: no history yet."


def test_trend_alt_text_over_a_long_history_stays_under_the_limit() -> None:
    points = [TrendPoint(f"Week {n}", (n % 10) / 10) for n in range(300)]

    chart = trend_chart(points, title="Open deals reviewed", filename="review-trend.png")

    png_size(chart.png)
    assert len(chart.alt_text) <= 1000
    assert chart.alt_text.startswith("Open deals reviewed: Week 0 0%, Week 1 10%, Week 2 20%")
    assert chart.alt_text.endswith("…")
