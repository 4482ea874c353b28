"""Reports as one self-contained HTML page: inline CSS and SVG, no script, no external URL.

Everything taken from the report passes through ``_e`` (``html.escape``): keys, column
values and reasons are user data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from canary.render import bench as bench_tables
from canary.render import demo
from canary.render.markup import COLOURS, PATHS
from canary.render.markup import e as _e
from canary.render.markup import num as _num
from canary.render.markup import table as _table

STATS: Final = ("count", "mean", "p50", "p95", "p99", "p999", "max")

_CSS: Final = """
body{font:15px/1.45 "Liberation Sans",Arial,Helvetica,sans-serif;color:#1f2328;margin:0;
 background:#f6f8fa}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:22px;margin:0 0 2px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#59636e;margin:0 0 16px}
.verdict{border-radius:8px;padding:14px 20px;color:#fff;margin-bottom:8px}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#a40e26}
.verdict.other{background:#59636e}
.verdict strong{font-size:34px;letter-spacing:2px}.verdict ul{margin:6px 0 0;padding-left:22px}
.row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;margin:4px 0;display:block;max-width:100%;overflow-x:auto}
th,td{padding:4px 12px;border-bottom:1px solid #d1d9e0;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.bad{color:#8b0000;font-weight:700}td.val{max-width:260px}
td.val,td.mono{overflow-wrap:anywhere;font-family:"Liberation Mono",monospace;font-size:13px}
.null{color:#8c959f;font-style:italic}.note{color:#59636e}
svg{width:100%;height:auto;display:block;margin-top:8px}svg text{font-size:12px;fill:#1f2328}
svg .grid{stroke:#e4e8ec}svg .axis{stroke:#59636e}svg .title{font-size:13px;font-weight:600}
svg .label{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
pre{background:#f6f8fa;padding:8px 12px;border-radius:6px;overflow-x:auto;margin:0}
dt{font-weight:600;margin-top:10px}dd{margin:2px 0 0 16px}
""" + "".join(
    f".series-{path},.swatch-{path}{{fill:{colour}}}.marker-{path}{{stroke:{colour}}}"
    for path, colour in COLOURS.items()
)


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _banner(report: dict[str, Any]) -> str:
    verdict = str(report.get("verdict", "none"))
    cls = verdict if verdict in ("pass", "fail") else "other"
    reasons = report.get("reasons") or []
    items = "".join(f"<li>{_e(reason)}</li>" for reason in reasons)
    detail = f"<ul>{items}</ul>" if items else ""
    if verdict == "pass" and not items:
        detail = "<div>every check is within its limit</div>"
    return (
        f'<section class="verdict {cls}"><strong>{_e(verdict.upper())}</strong>{detail}</section>'
    )


def _value(value: object) -> str:
    if value is None or value == "":
        return f'<span class="null">{"NULL" if value is None else "empty string"}</span>'
    return _e(value)


def _samples(samples: Sequence[dict[str, Any]], header: Sequence[str]) -> str:
    """One row per differing column; a sample without columns shows its rows note or sums."""
    rows = []
    for sample in samples:
        src = sample.get("src", {})
        head = f"<td>{_e(sample.get('key'))}</td><td>{_e(src.get('t'))}/{_e(src.get('p'))}@"
        head += f"{_e(src.get('o'))}</td>"
        columns = sample.get("columns") or {}
        for column, diff in columns.items():
            cells = (_e(column), _value(diff.get("mysql")), _value(diff.get("postgres")))
            values = "".join(f'<td class="val">{cell}</td>' for cell in cells)
            rows.append(f"<tr>{head}{values}<td>{_e(diff.get('cause', ''))}</td></tr>")
        if not columns:
            sums = (
                f"{path} sum {sample[f'{path}_sum']}" for path in PATHS if f"{path}_sum" in sample
            )
            note = _e(sample["rows"]) if sample.get("rows") else "<br>".join(map(_e, sums))
            span = len(header) - 2
            rows.append(f'<tr>{head}<td colspan="{span}" class="note mono">{note}</td></tr>')
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _fmt(value: float) -> str:
    """Three significant digits, never in exponent notation: 0.05, 1.23, 1,234."""
    if value <= 0:
        return "0"
    text = f"{value:,.{max(0, 2 - math.floor(math.log10(value)))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks inside [low, high] on a log axis; the ends when fewer than two fit."""
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    inside = [(m, m * 10.0**k) for k in decades for m in (1, 2, 5)]
    inside = [(m, t) for m, t in inside if low * 0.999 <= t <= high * 1.001]
    if len(inside) > 10:  # many decades: powers of ten only
        inside = [(m, t) for m, t in inside if m == 1]
    ticks = [t for _, t in inside]
    return ticks if len(ticks) >= 2 else sorted({low, high, *ticks})


def _step(top: int) -> int:
    """A 1-2-5 step giving at most five gridlines up to ``top``."""
    magnitude = int(10 ** max(0, math.floor(math.log10(max(top / 5, 1)))))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude * 5 >= top)


def chart(latency: dict[str, Any]) -> str:
    """The two paths' latency histograms as grouped bars on a log-x axis, in inline SVG."""
    hist = latency.get("histogram") or {}
    edges: list[float] = hist.get("edges") or []
    counts = {path: list(hist.get(path) or []) for path in PATHS}
    top_count = max((c for path in PATHS for c in counts[path]), default=0)
    if len(edges) < 2 or top_count <= 0 or not 0 < edges[0] < edges[-1]:
        return '<p class="note">no latency data</p>'
    width, height, left, right, top, bottom = 1000, 360, 70, 20, 40, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = edges[0], edges[-1]
    span = math.log10(high / low)

    def x(value: float) -> float:
        return left + plot_w * math.log10(max(value, low) / low) / span

    step = _step(top_count)
    y_max = math.ceil(top_count / step) * step

    def y(count: float) -> float:
        return top + plot_h * (1 - count / y_max)

    parts = [
        f'<svg id="latency-chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-label="Latency distribution of legacy and ring, records per log-spaced bin '
        f'from {_e(_fmt(low))} to {_e(_fmt(high))} ms">'
    ]
    for i in range(0, y_max + 1, step):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(i):.1f}" '
            f'y2="{y(i):.1f}"/><text x="{left - 6}" y="{y(i) + 4:.1f}" '
            f'text-anchor="end">{i:,}</text>'
        )
    for tick in _ticks(low, high):
        parts.append(
            f'<line class="axis" x1="{x(tick):.1f}" x2="{x(tick):.1f}" '
            f'y1="{top + plot_h}" y2="{top + plot_h + 5}"/><text x="{x(tick):.1f}" '
            f'y="{top + plot_h + 19}" text-anchor="middle">{_e(_fmt(tick))}</text>'
        )
    for i in range(len(edges) - 1):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        pad, half = (x1 - x0) * 0.08, (x1 - x0) * 0.42
        for j, path in enumerate(PATHS):
            count = counts[path][i] if i < len(counts[path]) else 0
            if count > 0:
                parts.append(
                    f'<rect class="series-{path}" data-bin="{i}" data-count="{count}" '
                    f'x="{x0 + pad + j * half:.2f}" y="{y(count):.2f}" width="{half:.2f}" '
                    f'height="{top + plot_h - y(count):.2f}"><title>{path}: {count:,} records, '
                    f"{_e(_fmt(edges[i]))}–{_e(_fmt(edges[i + 1]))} ms</title></rect>"
                )
    labels = []  # drawn after every marker, so no marker crosses a label
    markers = []
    for path in PATHS:
        stats = latency.get(path) or {}
        if stats.get("count") and low <= stats.get("p99", 0.0) <= high:
            markers.append((x(stats["p99"]), path, stats["p99"]))
    markers.sort()
    for j, (at, path, p99) in enumerate(markers):
        # The left marker's label goes left of it and the right one's right, when room allows.
        outward = "end" if j == 0 and len(markers) > 1 else "start"
        room = at - left if outward == "end" else left + plot_w - at
        anchor = outward if room > 140 else {"end": "start", "start": "end"}[outward]
        dx = 4 if anchor == "start" else -4
        parts.append(
            f'<line class="marker-{path}" stroke-dasharray="5 4" stroke-width="1.5" '
            f'x1="{at:.1f}" x2="{at:.1f}" y1="{top}" y2="{top + plot_h}"/>'
        )
        labels.append(
            f'<text class="label" style="fill:{COLOURS[path]}" x="{at + dx:.1f}" '
            f'y="{top + 14 + 16 * j}" text-anchor="{anchor}">{path} p99 {_e(_fmt(p99))} ms</text>'
        )
    parts += labels
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
        f'y2="{top + plot_h}"/>'
        f'<text class="title" x="{left + plot_w / 2}" y="{height - 10}" '
        f'text-anchor="middle">latency, source timestamp to commit (ms, log scale)</text>'
        f'<text class="title" transform="translate(16 {top + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">records per bin</text>'
    )
    for j, path in enumerate(PATHS):
        lx = width - right - 170 + 90 * j
        parts.append(
            f'<rect class="swatch-{path}" x="{lx}" y="12" width="14" height="14"/>'
            f'<text x="{lx + 20}" y="24">{path}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _sentence(latency: dict[str, Any]) -> str:
    gap = latency.get("p99_gap", 0.0)
    slower = "slower" if gap > 0 else "faster"
    text = (
        f"At p99, ring is {abs(gap):,.2f} ms {slower} than legacy (p99 gap ring − legacy:"
        f" {gap:+,.2f} ms)."
        if gap
        else "Ring and legacy have the same p99."
    )
    paired = latency.get("paired") or {}
    if paired.get("count"):
        low, high = paired["p99_gap_ci95"]
        text += (
            f" Over {paired['count']:,} records seen on both paths, the gap's 95 % CI is "
            f"[{low:+,.2f}, {high:+,.2f}] ms; ring was faster on "
            f"{100 * paired['ring_faster_share']:.1f} % of them, with a median difference "
            f"of {paired['median_diff']:+,.2f} ms."
        )
    elif "paired" in latency:
        text += " No record was seen on both paths, so there are no paired statistics."
    return f"<p>{_e(text)}</p>"


def stream(report: dict[str, Any]) -> str:
    run, rid = report.get("run_id", "-"), report.get("id", "-")
    head = [
        f"<h1>canary stream report — run {_e(run)}</h1>",
        f'<p class="meta">report {_e(rid)} · created {_e(report.get("created_at", "-"))}</p>',
    ]
    body = "".join([*head, *_stream_body(report)])
    return _page(f"canary stream report — run {run}, report {rid}", body)


def _stream_body(report: dict[str, Any]) -> list[str]:
    """A stream report's page below its title: verdict, counts, latency, samples."""
    records, duplicates = report["records"], report["duplicates"]
    latency = report["latency_ms"]
    body = [
        _banner(report),
        "<h2>Records</h2>",
        '<div class="row">',
        _table(
            ("", "legacy", "ring"),
            [
                ("records (distinct coordinates)", records["legacy"], records["ring"]),
                ("duplicates (redeliveries)", duplicates["legacy"], duplicates["ring"]),
            ],
        ),
        _table(
            ("outcome", "records"),
            [
                ("matched", report["matched"]),
                ("mismatched", report["mismatched"]),
                ("missing in ring", report["missing_in_ring"]),
                ("missing in legacy", report["missing_in_legacy"]),
                ("invalid events", report["invalid"]),
            ],
            bad=(False, True, True, True, True),
        ),
        "</div>",
        "<h2>Latency (ms, source timestamp to commit)</h2>",
        _table(
            ("path", *(field.replace("p999", "p99.9") for field in STATS)),
            [(path, *(latency[path][field] for field in STATS)) for path in PATHS],
        ),
        _sentence(latency),
        chart(latency),
    ]
    causes = report.get("causes") or {}
    if causes:
        body += [
            "<h2>Causes of mismatches</h2>",
            _table(
                ("cause", "columns"),
                sorted(causes.items(), key=lambda item: (-item[1], str(item[0]))),
            ),
        ]
    samples = report.get("samples") or {}
    columns = ("key", "source t/p@o", "column", "mysql", "postgres", "cause")
    missing = ("key", "source t/p@o", "what the other path wrote")
    for label in ("mismatched", "missing_in_ring", "missing_in_legacy"):
        if samples.get(label):
            shown, total = len(samples[label]), report.get(label, 0)
            body += [
                f"<h2>{label.replace('_', ' ').capitalize()}: {shown:,} sample"
                f"{'s' if shown != 1 else ''} of {_e(_num(total))}, by coordinate</h2>",
                _samples(samples[label], columns if label == "mismatched" else missing),
            ]
    limits = report.get("thresholds") or {}
    if limits:
        text = ", ".join(
            f"{k.removeprefix('max_')} ≤ {_num(v)}"
            for k, v in limits.items()
            if isinstance(v, int | float) and v >= 0
        )
        body.append(f'<p class="note">Limits: {_e(text or "none")}.</p>')
    return body


def generic(report: dict[str, Any]) -> str:
    """Any other kind of report: its verdict, then every other field as it is."""
    kind = report.get("kind", "unknown")
    head = f"<h1>canary {_e(kind)} report</h1>"
    return _page(f"canary {kind} report", head + "".join(_generic_body(report)))


def _generic_body(report: dict[str, Any]) -> list[str]:
    """The verdict, then a tables report's cut, then every other field as it is."""
    body = [_banner(report)] if "verdict" in report else []
    if "cut" in report:
        cut = [(f"partition {p}", offset) for p, offset in report["cut"].items()]
        body += [
            f"<h2>Consistent at the cut: {_e(_num(report.get('in_flight')))} keys in flight</h2>",
            '<p class="note">Only rows below the cut (per source partition, the smaller '
            "of the two paths' committed offsets) are compared; keys whose row on either "
            "side comes from at or past it are in flight, counted, not compared.</p>",
            _table(("source partition", "cut offset"), cut),
        ]
    return [*body, *_fields(report)]


def _fields(report: dict[str, Any]) -> list[str]:
    """Every field but the verdict and reasons, as it is."""
    items = []
    for key, value in report.items():
        if key in ("verdict", "reasons"):
            continue
        shown = (
            f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"
            if isinstance(value, dict | list)
            else _e(_num(value))
        )
        items.append(f"<dt>{_e(key)}</dt><dd>{shown}</dd>")
    return [f"<dl>{''.join(items)}</dl>"] if items else []


def bench(report: dict[str, Any]) -> str:
    """A bench report: one small table per kind of figure, then any other field."""
    rest = {k: v for k, v in report.items() if k not in bench_tables.SHOWN}
    head = f"<h1>{_e(bench_tables.title(report))}</h1>" + "".join(_fields(rest))
    body = [
        f"<h2>{_e(s.title)}</h2>{_table(s.header, s.rows)}"
        + (f'<p class="note">{_e(s.note)}</p>' if s.note else "")
        for s in bench_tables.sections(report)
    ]
    return _page(bench_tables.title(report), head + "".join(body))


def verify(report: dict[str, Any]) -> str:
    """A verify report: the gate, what it means, then both checks' reports."""
    run, rid = report.get("run_id", "-"), report.get("id", "-")
    checks = report.get("checks") or {}
    body = [
        f"<h1>canary verify — run {_e(run)}</h1>",
        f'<p class="meta">report {_e(rid)} · created {_e(report.get("created_at", "-"))}'
        f" · exit code {_e(report.get('exit_code', '-'))}</p>",
        _banner(report),
        f"<p>{_e(report.get('explanation', ''))}</p>",
        _table(
            ("check", "verdict", "exit code", "error"),
            [
                (name, c["verdict"].upper(), c["exit_code"], c.get("error") or "")
                for name, c in checks.items()
            ],
        ),
    ]
    if report.get("demo"):  # a demo's gate: what the demo saw comes before the checks
        body.append(demo.section(report["demo"]))
    for name in ("stream", "tables"):
        sub = report.get(name)
        body.append(f"<h2>The {_e(name)} check</h2>")
        if sub is None:
            body.append(f"<p>{_e((checks.get(name) or {}).get('error'))}</p>")
        else:
            body += _stream_body(sub) if name == "stream" else _generic_body(sub)
    return _page(f"canary verify — run {run}, report {rid}", "".join(body))


def render(report: dict[str, Any]) -> str:
    """Any stored report as one HTML page."""
    kind = report.get("kind")
    if kind == "stream":
        return stream(report)
    if kind == "verify":
        return verify(report)
    if kind == "bench":
        return bench(report)
    return generic(report)
