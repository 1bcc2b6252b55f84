"""Bar charts drawn on the server as SVG: no script, no library, nothing from elsewhere,
and the numbers are always in a table beside them too."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float | None]],
    *,
    unit: str = "",
    marks: Sequence[tuple[str, float]] = (),
) -> str:
    """An SVG bar per (label, value) (None draws no bar), with horizontal lines at `marks`
    (name, value), e.g. p50 and p95."""
    values = [v for _, v in bars if v is not None] + [v for _, v in marks]
    top = max(values, default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(bars))
    bar_w = max(2.0, step * 0.7)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">'
        f"{_fmt(top)}{escape(unit)}</text>",
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    label_every = max(1, round(len(bars) / 12))
    for i, (label, value) in enumerate(bars):
        x = LEFT + i * step + (step - bar_w) / 2
        if value is not None:
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y(value):.1f}" width="{bar_w:.1f}" '
                f'height="{TOP + plot_h - y(value):.1f}"><title>{escape(label)}: '
                f"{_fmt(value)}{escape(unit)}</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for name, value in marks:
        out.append(
            f'<line class="mark mark-{escape(name)}" x1="{LEFT}" y1="{y(value):.1f}" '
            f'x2="{WIDTH - RIGHT}" y2="{y(value):.1f}"/>'
            f'<text class="mark-label" x="{WIDTH - RIGHT - 2}" y="{y(value) - 4:.1f}" '
            f'text-anchor="end">{escape(name)} {_fmt(value)}{escape(unit)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
