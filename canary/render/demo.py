"""The demo's own part of its report page: production, backlog over time, mid-run checks,
and, with an injected divergence, what was injected against what each diff found.

Only numbers and verdicts come from the report here, and they pass through ``e`` all the
same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from canary.render.markup import COLOURS, PATHS, e, num, table


def section(demo: Mapping[str, Any]) -> str:
    """The ``demo`` part of a demo's verify report as HTML."""
    parts = ["<h2>What the demo saw</h2>", f"<p>{e(_production(demo['production']))}</p>"]
    timeline = demo.get("timeline") or []
    if timeline:
        parts += [
            "<h2>Backlog while producing: messages not yet committed, per path</h2>",
            backlog_chart(timeline, (demo["production"] or {}).get("burst")),
        ]
    checks = demo.get("mid_run_checks") or []
    parts.append("<h2>Consistent table checks while both paths were consuming</h2>")
    if checks:
        parts.append(
            table(
                ("at (s)", "verdict", "MySQL rows", "PostgreSQL rows", "differences", "in flight"),
                [
                    (
                        f"{c['at_s']:.1f}",
                        c["verdict"].upper(),
                        c["rows"]["mysql"],
                        c["rows"]["postgres"],
                        c["differences"],
                        c["in_flight"],
                    )
                    for c in checks
                ],
            )
        )
    else:
        parts.append('<p class="note">none: the paths never both committed in time</p>')
    injection = demo.get("injection")
    if injection:
        parts += _injection(injection)
    return "".join(parts)


def _production(production: Mapping[str, Any]) -> str:
    text = f"{production['count']:,} order events"
    rate = production.get("rate_msg_s") or 0
    text += f" at {rate:,.0f} msg/s" if rate else " as fast as possible"
    burst = production.get("burst")
    if burst:
        text += (
            f", with a burst of {burst['messages']:,} at {burst['rate_msg_s']:,.0f} msg/s "
            f"from {burst['from_s']:.1f} s to {burst['to_s']:.1f} s"
        )
    return text + (
        f"; all sent in {production['seconds']:,.1f} s ({production['achieved_msg_s']:,.0f} "
        "msg/s on average)."
    )


def _injection(injection: Mapping[str, Any]) -> list[str]:
    expected, found = injection["expected"], injection["found"]
    verdict = (
        "Both diffs found exactly the injected records, and no other."
        if injection["exact"]
        else "The diffs did NOT find exactly the injected records."
    )
    strangers = injection.get("strangers") or []
    if strangers:
        verdict += f" Sample keys never injected: {', '.join(map(str, strangers[:10]))}."
    return [
        f"<h2>Injected divergence ({100 * injection['rate']:g} % of order ids)</h2>",
        table(
            ("", "injected", "found"),
            [
                ("records, by the stream diff", expected["stream_records"], _n(found, "stream")),
                ("keys, by the table diff", expected["table_keys"], _n(found, "table")),
            ],
        ),
        f'<p class="note">{e(_breakdown(expected))}</p>',
        f"<p><strong>{e(verdict)}</strong></p>",
    ]


def _n(found: Mapping[str, Any], which: str) -> object:
    value = found["stream_records" if which == "stream" else "table_keys"]
    return "could not run" if value is None else value


def _breakdown(expected: Mapping[str, Any]) -> str:
    same = expected["touched"] - expected["mismatched"] - expected["missing_in_ring"]
    return (
        f"Of {expected['records']:,} records, {expected['touched']:,} belong to chosen order "
        f"ids: {expected['mismatched']:,} written differently, {expected['missing_in_ring']:,} "
        "refused by the ring path"
        + (f", {same:,} rounded to the value they had" if same else "")
        + f". The tables compare each key's last version: {expected['different_keys']:,} "
        f"differ, {expected['only_in_mysql_keys']:,} are missing in PostgreSQL."
    )


def backlog_chart(timeline: Sequence[Mapping[str, Any]], burst: Mapping[str, Any] | None) -> str:
    """Messages behind per path over time, as two lines in inline SVG; the burst shaded."""
    width, height, left, right, top, bottom = 1000, 260, 70, 20, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    t_max = max(1.0, *(float(p["at_s"]) for p in timeline))
    y_max = max(1, *(int(p["behind"][path]) for p in timeline for path in PATHS))

    def x(at: float) -> float:
        return left + plot_w * float(at) / t_max

    def y(behind: float) -> float:
        return top + plot_h * (1 - float(behind) / y_max)

    parts = [
        f'<svg id="backlog-chart" role="img" viewBox="0 0 {width} {height}" '
        'aria-label="Messages each path had not committed yet, over the seconds of '
        'production">'
    ]
    if burst:
        x0, x1 = x(burst["from_s"]), x(min(burst["to_s"], t_max))
        parts.append(
            f'<rect class="burst" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{plot_h}" fill="#f2e6c9"><title>burst</title></rect>'
            f'<text x="{x0 + 4:.1f}" y="{top + 14}">burst</text>'
        )
    for fraction in (0.0, 0.5, 1.0):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(fraction * y_max):.1f}" '
            f'y2="{y(fraction * y_max):.1f}"/><text x="{left - 6}" '
            f'y="{y(fraction * y_max) + 4:.1f}" text-anchor="end">{e(num(round(fraction * y_max)))}'
            "</text>"
        )
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        at = fraction * t_max
        parts.append(
            f'<text x="{x(at):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{at:.0f} s</text>'
        )
    for j, path in enumerate(PATHS):
        points = " ".join(f"{x(p['at_s']):.1f},{y(p['behind'][path]):.1f}" for p in timeline)
        parts.append(
            f'<polyline class="backlog-{path}" fill="none" stroke="{COLOURS[path]}" '
            f'stroke-width="2.5" points="{points}"/>'
            f'<rect x="{width - right - 170 + 90 * j}" y="6" width="14" height="14" '
            f'fill="{COLOURS[path]}"/><text x="{width - right - 150 + 90 * j}" y="18">{path}'
            "</text>"
        )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/><text class="title" x="{left + plot_w / 2}" y="{height - 6}" '
        'text-anchor="middle">seconds since production began</text></svg>'
    )
    return "".join(parts)
