"""Plain SVG charts for the HTML report: no plotting library, no script, no external font.

Every text that reaches a chart passes through :func:`escape`, because model, slice and emotion
names come from datasets and plugins.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape as _escape

CHAR_WIDTH, LEGEND_GAP = 7, 20  # px per character of a small label (an upper bound); swatch and gap per legend entry
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")


def escape(text: object) -> str:
    return _escape(str(text), quote=True)


def forest(rows: Sequence[tuple[str, float, float, float]], title: str, width: int = 560) -> str:
    """One line per ``(label, diff, low, high)`` in percentage points, with a zero line."""
    if not rows:
        return ""
    pad_left, pad_right, line = 150, 30, 22
    height = 40 + line * len(rows)
    span = max(1e-9, max(abs(v) for _, d, lo, hi in rows for v in (d, lo, hi)))
    inner = width - pad_left - pad_right

    def x(value: float) -> float:
        return pad_left + inner / 2 + value / span * inner / 2

    parts = [
        f'<text x="{pad_left}" y="16" class="t">{escape(title)}</text>',
        f'<line x1="{x(0):.1f}" y1="24" x2="{x(0):.1f}" y2="{height - 8}" class="zero"/>',
    ]
    for i, (label, diff, low, high) in enumerate(rows):
        y = 36 + i * line
        parts += [
            f'<text x="{pad_left - 8}" y="{y + 4}" text-anchor="end">{escape(label)}</text>',
            f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" class="ci"/>',
            f'<circle cx="{x(diff):.1f}" cy="{y}" r="4" class="pt"/>',
            f'<text x="{width - 4}" y="{y + 4}" text-anchor="end" class="v">{diff:+.1f}</text>',
        ]
    return _svg(width, height, parts)


def grouped_bars(groups: Sequence[str], series: dict[str, Sequence[float | None]], title: str, width: int = 560) -> str:
    """Bars per group (slice value) and series (model), values in percent."""
    if not groups or not series:
        return ""
    pad_left, height, top = 36, 230, 24
    legend_steps = [LEGEND_GAP + CHAR_WIDTH * len(str(name)) for name in series]
    # 8 px a bar: twelve emotions of nine selectors take 1,092 px, about the report's column (CSS scales the rest)
    width = max(width, pad_left + len(groups) * (8 * len(series) + 16), pad_left + sum(legend_steps))
    inner_h = height - top - 70
    group_w = (width - pad_left - 8) / len(groups)
    bar_w = max(2.0, group_w * 0.8 / len(series))
    parts = [
        f'<text x="{pad_left}" y="16" class="t">{escape(title)}</text>',
        f'<line x1="{pad_left}" y1="{top + inner_h}" x2="{width - 4}" y2="{top + inner_h}" class="zero"/>',
    ]
    for tick in (0, 50, 100):
        y = top + inner_h * (1 - tick / 100)
        parts.append(f'<text x="{pad_left - 4}" y="{y + 4:.1f}" text-anchor="end" class="v">{tick}</text>')
    for g, group in enumerate(groups):
        gx = pad_left + g * group_w + group_w * 0.1
        for s, (name, values) in enumerate(series.items()):
            value = values[g]
            if value is None:
                continue
            h = inner_h * max(0.0, min(100.0, value)) / 100
            parts.append(
                f'<rect x="{gx + s * bar_w:.1f}" y="{top + inner_h - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)} · {escape(group)}: {value:.1f}</title></rect>'
            )
        label_x, label_y = gx + group_w * 0.4, top + inner_h + 12
        parts.append(
            f'<text transform="translate({label_x:.1f},{label_y}) rotate(-30)" text-anchor="end" class="v">{escape(group)}</text>'
        )
    legend_x = pad_left
    for s, (name, step) in enumerate(zip(series, legend_steps)):
        parts.append(
            f'<rect x="{legend_x}" y="{height - 12}" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>'
        )
        parts.append(f'<text x="{legend_x + 14}" y="{height - 3}" class="v">{escape(name)}</text>')
        legend_x += step
    return _svg(width, height, parts)


def heatmap(labels: Sequence[str], counts: Sequence[Sequence[int]], title: str) -> str:
    """A confusion matrix: rows = gold, columns = predicted; darker = more samples."""
    if not labels:
        return ""
    cell, pad = 22, 110
    size = pad + cell * len(labels) + 10
    peak = max(1, max(max(row) for row in counts))
    parts = [f'<text x="4" y="14" class="t">{escape(title)}</text>']
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{pad - 4}" y="{pad + i * cell + 15}" text-anchor="end" class="v">{escape(label)}</text>'
        )
        parts.append(
            f'<text transform="translate({pad + i * cell + 15},{pad - 4}) rotate(-60)" class="v">{escape(label)}</text>'
        )
        for j, count in enumerate(counts[i]):
            shade = 1 - count / peak
            fill = f"rgb({int(40 + 215 * shade)},{int(80 + 175 * shade)},{int(160 + 95 * shade)})"
            parts.append(
                f'<rect x="{pad + j * cell}" y="{pad + i * cell}" width="{cell - 1}" height="{cell - 1}" fill="{fill}">'
                f"<title>gold {escape(label)} → predicted {escape(labels[j])}: {count}</title></rect>"
            )
    return _svg(size, size, parts)


def _svg(width: int, height: int, parts: list[str]) -> str:
    style = (
        "<style>text{font:11px sans-serif;fill:#222}.t{font-weight:bold}.v{fill:#555}"
        ".zero{stroke:#999;stroke-dasharray:3 3}.ci{stroke:#4c72b0;stroke-width:2}.pt{fill:#4c72b0}</style>"
    )
    body = "".join(parts)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{style}{body}</svg>'
