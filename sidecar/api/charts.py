"""Charts of the analysts' dashboard, drawn as SVG on the server: no script and no CDN, so the
pages work offline and print. Each function returns markup (Markup: already escaped)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

INK, MUTED, LINE, ACCENT, TARGET = "#1b1f24", "#4a5360", "#d4d9e0", "#0b5cad", "#111111"


def _svg(width: float, height: float, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="100%" '
        f'role="img" aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _scale_ends(left: float, scale: float, height: float, low: str, high: str) -> list[str]:
    """The horizontal scale's two end values, under the rows of a chart `height` high."""
    return [
        f'<text x="{left}" y="{height - 4}" fill="{MUTED}">{low}</text>',
        f'<text x="{left + scale}" y="{height - 4}" text-anchor="end" fill="{MUTED}">{high}</text>',
    ]


def shortfall_colour(value: float) -> str:
    """0 (on target): white; 0.5 or more below target: deep red."""
    strength = max(0.0, min(1.0, value / 0.5))
    r, g, b = 255, int(255 - 175 * strength), int(255 - 185 * strength)
    return f"rgb({r},{g},{b})"


def bars_per_day(days: Sequence[str], counts: Sequence[int], label: str) -> Markup:
    """Events per day: one bar per day, the largest count labelled."""
    width, height, left, bottom = 640, 160, 40, 24
    top = max(counts, default=0) or 1
    step = (width - left) / max(len(days), 1)
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="{LINE}"/>',
        f'<text x="{left - 4}" y="12" text-anchor="end" fill="{MUTED}">{top:,}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" fill="{MUTED}">0</text>',
    ]
    for i, (day, count) in enumerate(zip(days, counts)):
        h = (height - bottom - 8) * count / top
        x = left + i * step
        body.append(
            f'<rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{ACCENT}"><title>{escape(day)}: {count:,}</title></rect>'
        )
        if i == 0 or i == len(days) - 1 or len(days) <= 8:
            anchor = "end" if i == len(days) - 1 and i else "middle"
            body.append(
                f'<text x="{x + step if anchor == "end" else x + step / 2:.1f}" y="{height - 6}" '
                f'text-anchor="{anchor}" fill="{MUTED}">{escape(day[5:])}</text>'
            )
    return _svg(width, height, body, label)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[float | None]],
    links: Sequence[Sequence[str | None]],
    cell_title: str,
    label: str,
) -> Markup:
    """Rows (knowledge points) × columns (roles); each cell's mean shortfall, linked to its learners.
    `cell_title` is formatted with row, column and value for the tooltip; None cells have no target."""
    cell_w, cell_h, left, top = 64, 24, 290, 150
    width, height = left + cell_w * len(columns) + 150, top + cell_h * len(rows) + 8
    body = []
    for c, column in enumerate(columns):
        x = left + c * cell_w + cell_w / 2
        body.append(
            f'<text x="{x:.0f}" y="{top - 8}" transform="rotate(-40 {x:.0f} {top - 8})" '
            f'fill="{INK}">{escape(_short(column, 30))}</text>'
        )
    for r, row in enumerate(rows):
        y = top + r * cell_h
        body.append(
            f'<text x="{left - 6}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="end" fill="{INK}">'
            f"{escape(_short(row, 42))}</text>"
        )
        for c, value in enumerate(cells[r]):
            x = left + c * cell_w
            if value is None:
                body.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="#f3f5f8"/>')
                continue
            title = escape(cell_title.format(row=row, column=columns[c], value=f"{value * 100:.0f}"))
            rect = (
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{shortfall_colour(value)}" stroke="{LINE}"><title>{title}</title></rect>'
                f'<text x="{x + cell_w / 2 - 1:.0f}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="middle" '
                f'fill="{INK}">{value * 100:.0f}</text>'
            )
            link = links[r][c]
            body.append(f'<a href="{escape(link)}">{rect}</a>' if link else rect)
    return _svg(width, height, body, label)


def mastery_bars(
    names: Sequence[str],
    mastery: Sequence[float],
    uncertainty: Sequence[float],
    targets: Sequence[float],
    bar_title: str,
    label: str,
) -> Markup:
    """Per knowledge point: mastery as a bar, ± its uncertainty as a whisker, the target as a tick."""
    left, width, row_h = 230, 640, 24
    scale = width - left - 20
    height = row_h * len(names) + 28
    body = _scale_ends(left, scale, height, "0%", "100%")
    for i, name in enumerate(names):
        y = 4 + i * row_h
        k, sd, t = mastery[i], uncertainty[i], targets[i]
        title = escape(
            bar_title.format(name=name, mastery=f"{k * 100:.0f}", sd=f"{sd * 100:.0f}", target=f"{t * 100:.0f}")
        )
        lo, hi = max(0.0, k - sd), min(1.0, k + sd)
        body.append(
            f"<g><title>{title}</title>"
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="{INK}">{escape(_short(name, 34))}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{scale}" height="14" fill="#e3e7ec"/>'
            f'<rect x="{left}" y="{y + 3}" width="{scale * k:.1f}" height="14" fill="#1f7a4d"/>'
            f'<line x1="{left + scale * lo:.1f}" y1="{y + 10}" x2="{left + scale * hi:.1f}" y2="{y + 10}" '
            f'stroke="{INK}" stroke-width="1.5"/>'
            f'<line x1="{left + scale * t:.1f}" y1="{y}" x2="{left + scale * t:.1f}" y2="{y + 20}" '
            f'stroke="{TARGET}" stroke-width="3"/></g>'
        )
    return _svg(width, height, body, label)


def rates_with_error_bars(
    names: Sequence[str],
    fitted: Sequence[float | None],
    errors: Sequence[float | None],
    catalog: Sequence[float],
    dot_title: str,
    label: str,
) -> Markup:
    """Per (module, point): the fitted rate as a dot with ±1.96 standard errors, the catalog's as a
    hollow diamond. A row without a fitted rate shows the catalog's only."""
    left, width, row_h = 300, 680, 22
    scale = width - left - 20
    top_value = max([*catalog, *(f + 1.96 * (e or 0) for f, e in zip(fitted, errors) if f is not None), 0.01])
    height = row_h * len(names) + 28
    body = _scale_ends(left, scale, height, "0", f"{top_value:.2f}")
    for i, name in enumerate(names):
        y = 4 + i * row_h + 10
        cx = left + scale * catalog[i] / top_value
        parts = [
            f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" fill="{INK}">{escape(_short(name, 44))}</text>',
            f'<line x1="{left}" y1="{y}" x2="{left + scale}" y2="{y}" stroke="{LINE}"/>',
            f'<path d="M{cx:.1f} {y - 5} l5 5 l-5 5 l-5 -5 z" fill="#fff" stroke="{MUTED}" stroke-width="1.5"/>',
        ]
        value, error = fitted[i], errors[i]
        if value is not None:
            fx = left + scale * value / top_value
            if error:
                lo = left + scale * max(0.0, value - 1.96 * error) / top_value
                hi = left + scale * (value + 1.96 * error) / top_value
                parts.append(
                    f'<line x1="{lo:.1f}" y1="{y}" x2="{hi:.1f}" y2="{y}" stroke="{ACCENT}" stroke-width="2"/>'
                )
            parts.append(f'<circle cx="{fx:.1f}" cy="{y}" r="4.5" fill="{ACCENT}"/>')
        title = escape(
            dot_title.format(
                name=name,
                fitted="–" if value is None else f"{value:.3f}",
                error="–" if not error else f"{error:.3f}",
                catalog=f"{catalog[i]:.3f}",
            )
        )
        body.append(f"<g><title>{title}</title>{''.join(parts)}</g>")
    return _svg(width, height, body, label)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def banded_bar_pairs(
    names: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float], Sequence[float], Sequence[float]]],
    bar_title: str,
    label: str,
) -> Markup:
    """Per row, one bar per series (name, colour, medians, lows, highs) with its low-high band as a
    whisker, on one scale; `bar_title` is formatted with name, series, median, low and high."""
    left, width, bar_h = 230, 680, 12
    row_h = bar_h * len(series) + 10
    scale = width - left - 70
    top = max([*(h for s in series for h in s[4]), *(m for s in series for m in s[2]), 1e-9])
    height = row_h * len(names) + 40
    body = _scale_ends(left, scale, height, "0", f"{top:,.0f}")
    for k, (series_name, colour, *_values) in enumerate(series):
        x = left + 150 * k
        body.append(
            f'<rect x="{x}" y="{height - 30}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{height - 21}" fill="{INK}">{escape(series_name)}</text>'
        )
    for i, name in enumerate(names):
        y = 4 + i * row_h
        parts = [
            f'<text x="{left - 6}" y="{y + row_h / 2 + 2:.0f}" text-anchor="end" fill="{INK}">{escape(_short(name, 34))}</text>'
        ]
        for k, (series_name, colour, medians, lows, highs) in enumerate(series):
            by = y + k * bar_h
            m, lo, hi = medians[i], lows[i], highs[i]
            title = escape(
                bar_title.format(name=name, series=series_name, median=f"{m:,.1f}", low=f"{lo:,.1f}", high=f"{hi:,.1f}")
            )
            parts.append(
                f"<g><title>{title}</title>"
                f'<rect x="{left}" y="{by}" width="{scale * m / top:.1f}" height="{bar_h - 2}" fill="{colour}"/>'
                f'<line x1="{left + scale * lo / top:.1f}" y1="{by + bar_h / 2 - 1:.1f}" '
                f'x2="{left + scale * hi / top:.1f}" y2="{by + bar_h / 2 - 1:.1f}" stroke="{INK}" stroke-width="1.5"/>'
                f'<text x="{left + scale * max(m, hi) / top + 4:.1f}" y="{by + bar_h - 3}" fill="{MUTED}">{m:,.0f}</text>'
                "</g>"
            )
        body.append("".join(parts))
    return _svg(width, height, body, label)
