"""PNG charts for the Slack reports: the pipeline funnel and the weekly review trend.

Pure functions: data in, PNG bytes and alt text out. Only matplotlib's object-oriented API is used
(never `pyplot` and its global figure registry), so charts can be drawn from worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from core.i18n import N_, Translator

__all__ = [
    "Chart",
    "FunnelSeries",
    "FunnelStage",
    "TrendPoint",
    "funnel_chart",
    "trend_chart",
]

ALT_TEXT_LIMIT = 1000  # Slack's alt_text limit for image blocks
MAX_SERIES_DRAWN = 6
LABEL_LIMIT = 32  # characters of a stage label drawn; the alt text keeps the full label
REVIEWED = N_("Open deals reviewed")

_DPI = 144
_WIDTH_IN = 8.0
_MAX_HEIGHT_IN = 14.0
_HEADER_IN = 1.1  # figure title and legend
_MIN_SERIES_IN = 0.55  # a pipeline's title and value axis
_MIN_ROW_IN = 0.2  # one stage: below this the 10 pt stage labels overlap
_NOW_COLOUR = "#1d4ed8"
_BEFORE_COLOUR = "#cbd5e1"
_TEXT_COLOUR = "#1f2937"
_MUTED_TEXT_COLOUR = "#6b7280"
_GRID_COLOUR = "#e5e7eb"


@dataclass(frozen=True, slots=True)
class Chart:
    png: bytes
    filename: str
    title: str
    alt_text: str
    drawn_text: tuple[str, ...] = ()
    """Every text drawn on the image (titles, tick labels, legend, notes), in drawing order."""


@dataclass(frozen=True, slots=True)
class FunnelStage:
    label: str
    now: float
    before: float


@dataclass(frozen=True, slots=True)
class FunnelSeries:
    title: str
    stages: Sequence[FunnelStage]
    format_value: Callable[[float], str]
    """Short, for the axis and the bars: `€1.2M`."""
    format_exact: Callable[[float], str] | None = None
    """For the alt text, which has room for `€1,234,000` (default: `format_value`)."""


@dataclass(frozen=True, slots=True)
class TrendPoint:
    label: str
    value: float | None


def funnel_chart(
    series: Sequence[FunnelSeries],
    *,
    now_label: str,
    before_label: str,
    filename: str,
    title: str,
    t: Translator,
) -> Chart:
    """Grouped horizontal bars per stage (now vs before), one subplot per pipeline, first stage on top;
    labels come translated, the chart's own words are `t`'s."""
    drawn = list(series[: _series_that_fit(series)])
    hidden = len(series) - len(drawn)

    stage_rows = sum(_rows(s) for s in drawn)
    height = _HEADER_IN + 0.75 * max(len(drawn), 1) + 0.42 * stage_rows
    fig = Figure(figsize=(_WIDTH_IN, min(max(height, 3.0), _MAX_HEIGHT_IN)), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(
        _drawable(title),
        fontsize=14,
        fontweight="bold",
        color=_TEXT_COLOUR,
        x=0.01,
        ha="left",
        parse_math=False,
    )
    if not drawn:
        _note(fig.add_subplot(), t._("No pipelines to show"))
    else:
        grid = fig.add_gridspec(len(drawn), 1, height_ratios=[_rows(s) for s in drawn])
        axes = [fig.add_subplot(grid[row, 0]) for row in range(len(drawn))]
        for ax, one in zip(axes, drawn, strict=True):
            _draw_series(ax, one, t)
        # Above the first plot, right-aligned, so it shares the row with that pipeline's left-aligned title.
        legend = axes[0].legend(
            handles=[
                Patch(color=_NOW_COLOUR, label=_drawable(now_label)),
                Patch(color=_BEFORE_COLOUR, label=_drawable(before_label)),
            ],
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            borderaxespad=0.3,
            ncols=2,
            frameon=False,
            fontsize=10,
        )
        for text in legend.get_texts():
            text.set_parse_math(False)
    if hidden:
        fig.supxlabel(_more_note(hidden, t), fontsize=9, color=_MUTED_TEXT_COLOUR, parse_math=False)

    alt = " ".join([_sentence(title), *(_series_alt_text(s, t) for s in drawn)])
    if not drawn:
        alt += " " + t._("No pipelines to show.")
    if hidden:
        # Capped separately so the note that pipelines are missing survives the cut.
        suffix = f"; {_more_note(hidden, t)}."
        alt = _shorten(alt, ALT_TEXT_LIMIT - len(suffix)).removesuffix(".") + suffix
    return _chart(fig, filename=filename, title=title, alt_text=alt)


def trend_chart(
    points: Sequence[TrendPoint],
    *,
    title: str,
    filename: str,
    t: Translator,
    value_label: str = REVIEWED,
) -> Chart:
    """A small line chart of a weekly share (0..1) as percent; weeks without data are left as gaps."""
    fig = Figure(figsize=(6.0, 2.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(
        _drawable(title), loc="left", fontsize=11, fontweight="bold", color=_TEXT_COLOUR, parse_math=False
    )
    values = [_share(p.value) for p in points]
    known = [(i, v) for i, v in enumerate(values) if v is not None]

    if not known:
        _note(ax, t._("No history yet"))
        alt = t._("{title}: no history yet.", title=_without_period(title))
        return _chart(fig, filename=filename, title=title, alt_text=alt)

    xs = list(range(len(points)))
    ys = [math.nan if v is None else v * 100 for v in values]  # NaN breaks the line: a visible gap
    ax.plot(xs, ys, color=_NOW_COLOUR, linewidth=2, marker="o", markersize=4, clip_on=False)
    last_x, last_v = known[-1]
    ax.annotate(
        t.percent(last_v),
        xy=(last_x, last_v * 100),
        xytext=(0, 7),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=10,
        fontweight="bold",
        color=_NOW_COLOUR,
        annotation_clip=False,
    )

    ax.set_ylim(0, 100)
    ax.yaxis.set_major_locator(FixedLocator([0, 25, 50, 75, 100]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _drawable(t.percent(v / 100))))
    ax.set_ylabel(_drawable(t._(value_label)), fontsize=9, color=_MUTED_TEXT_COLOUR, parse_math=False)
    ax.set_xlim(-0.5, len(points) - 0.5)
    shown = _thinned(len(points), most=8)
    ax.set_xticks(shown, labels=[_drawable(_shorten(points[i].label, 12)) for i in shown])
    for label in ax.get_xticklabels():
        label.set_parse_math(False)
    _style(ax, value_axis="y")

    readings = [
        t._("{week} no data", week=p.label) if v is None else f"{p.label} {t.percent(v)}"
        for p, v in zip(points, values, strict=True)
    ]
    alt = t._("{title}: {readings}.", title=_without_period(title), readings=", ".join(readings))
    return _chart(fig, filename=filename, title=title, alt_text=alt)


def _series_that_fit(series: Sequence[FunnelSeries]) -> int:
    """How many pipelines to draw: at most MAX_SERIES_DRAWN, fewer when rows would get too thin to read."""
    count = rows = 0
    for one in series[:MAX_SERIES_DRAWN]:
        rows += _rows(one)
        needed = _HEADER_IN + _MIN_SERIES_IN * (count + 1) + _MIN_ROW_IN * rows
        if count and needed > _MAX_HEIGHT_IN:
            break
        count += 1
    return count


def _rows(series: FunnelSeries) -> int:
    return max(len(series.stages), 1)


def _draw_series(ax: Axes, series: FunnelSeries, t: Translator) -> None:
    ax.set_title(
        _drawable(_shorten(series.title, 36)),
        loc="left",
        fontsize=11,
        fontweight="bold",
        color=_TEXT_COLOUR,
        parse_math=False,
    )
    stages = list(series.stages)
    if not stages:
        _note(ax, t._("no stages"))
        return

    positions = list(range(len(stages)))
    now = [_finite(s.now) for s in stages]
    before = [_finite(s.before) for s in stages]
    bar = 0.38
    ax.barh([p - bar / 2 for p in positions], now, height=bar, color=_NOW_COLOUR)
    ax.barh([p + bar / 2 for p in positions], before, height=bar, color=_BEFORE_COLOUR)
    ax.set_yticks(positions, labels=[_drawable(_shorten(s.label, LABEL_LIMIT)) for s in stages])
    for label in ax.get_yticklabels():
        label.set_parse_math(False)
    ax.set_ylim(len(stages) - 0.5, -0.5)  # inverted: the first stage on top, like a funnel

    low = min(0.0, *now, *before)
    high = max(0.0, *now, *before)
    if high == low:
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda _v, _pos: ""))
        _note(ax, t._("no open deals"), clear=False)
    else:
        # Headroom on the right so the value written after the longest bar stays inside the plot.
        ax.set_xlim(low, high + (high - low) * 0.22)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_text(series.format_value(v))))
        for position, stage, value in zip(positions, stages, now, strict=True):
            ax.annotate(
                _drawable(series.format_value(stage.now)),
                xy=(value, position - bar / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color=_TEXT_COLOUR,
                parse_math=False,
            )
    _style(ax, value_axis="x")


def _style(ax: Axes, *, value_axis: str) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(_MUTED_TEXT_COLOUR)
    ax.tick_params(labelsize=10, colors=_TEXT_COLOUR, length=0)
    ax.set_axisbelow(True)
    ax.grid(axis="x" if value_axis == "x" else "y", color=_GRID_COLOUR, linewidth=0.8)


def _note(ax: Axes, text: str, *, clear: bool = True) -> None:
    """A centred grey remark; `clear` also drops the axes furniture when there is nothing else to show."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        color=_MUTED_TEXT_COLOUR,
        fontstyle="italic",
    )
    if not clear:
        return
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _chart(fig: Figure, *, filename: str, title: str, alt_text: str) -> Chart:
    png = _render(fig)
    # Read after drawing: tick labels are only written then.
    drawn = tuple(
        text.get_text() for text in fig.findobj(Text) if text.get_visible() and text.get_text().strip()
    )
    return Chart(png, filename, title, _shorten(alt_text, ALT_TEXT_LIMIT), drawn)


def _render(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" text chunk, so the same input gives byte-identical PNGs across matplotlib patch versions.
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _series_alt_text(series: FunnelSeries, t: Translator) -> str:
    name = _without_period(_one_line(series.title))
    if not series.stages:
        return t._("{name}: no stages.", name=name)
    if all(_finite(s.now) == 0 and _finite(s.before) == 0 for s in series.stages):
        return t._("{name}: no open deals.", name=name)
    exact = series.format_exact or series.format_value
    readings = [
        t._(
            "{stage} {now} (was {before})",
            stage=_one_line(s.label),
            now=exact(s.now),
            before=exact(s.before),
        )
        for s in series.stages
    ]
    return t._("{title}: {readings}.", title=name, readings="; ".join(readings))


def _more_note(hidden: int, t: Translator) -> str:
    return t.n_("and {n} more pipeline not drawn", "and {n} more pipelines not drawn", hidden)


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters on one line, cut at a word boundary with an ellipsis."""
    text = _one_line(text)
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if text[limit - 1] != " " and space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-(") + "…"


def _thinned(count: int, *, most: int) -> list[int]:
    """Indices of at most about `most` evenly spaced tick labels, always including the latest week."""
    step = max(1, math.ceil(count / most))
    return list(range(count - 1, -1, -step))[::-1]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _sentence(text: str) -> str:
    text = _one_line(text)
    return text if text.endswith((".", "!", "?")) else text + "."


def _without_period(text: str) -> str:
    return _one_line(text).removesuffix(".")


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def _share(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _tick_text(text: str) -> str:
    # Tick labels are made at draw time with math parsing on; escaped, "$1,000 to $2,000" stays literal.
    return _drawable(text).replace("$", r"\$")


def _drawable(text: str) -> str:
    """The text without characters the chart font lacks (e.g. emoji), which would draw as boxes and warn."""
    covered = _font_charmap()
    return _one_line("".join(ch for ch in text if ord(ch) in covered or ch.isspace()))


@cache
def _font_charmap() -> frozenset[int]:
    return frozenset(get_font(findfont(FontProperties())).get_charmap())
