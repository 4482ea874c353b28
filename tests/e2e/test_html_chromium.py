"""The HTML report in a real browser: headless Chromium loads it offline, keeps the chart in
its DOM, and paints both series.

`scripts/browser` finds Chromium or installs it (``tests.e2e.browser``); a browser that
cannot be had fails the test rather than skipping it.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from canary.core.events import CompareEvent, PathName, SourceCoord
from canary.core.join import StreamJoin
from canary.core.report import stream_report
from canary.core.verdict import Thresholds
from canary.render.html import COLOURS, render
from tests.e2e.browser import browse

pytestmark = pytest.mark.e2e


def _report() -> dict[str, Any]:
    """A failing run of 2,000 records: ring clearly faster, a few records lost or different."""
    rng = random.Random(7)
    join = StreamJoin("r-e2e")

    def add(path: PathName, offset: int, latency: float, digest: str = "0" * 32) -> None:
        ts = 1_700_000_000_000 + offset
        src = SourceCoord("orders", offset % 6, offset, ts)
        join.add(CompareEvent("r-e2e", path, f"order-{offset}", src, digest, ts + latency))

    for offset in range(2000):
        if offset % 701 != 5:
            add("legacy", offset, rng.lognormvariate(3.0, 0.5))
        if offset % 997 != 7:
            digest = "f" * 32 if offset % 503 == 0 else "0" * 32
            add("ring", offset, rng.lognormvariate(2.3, 0.6), digest)
    report = stream_report(
        "rep-e2e", "r-e2e", join.result(), Thresholds(max_p99_gap_ms=5), "2024-05-01T12:00:00Z"
    ).as_json()
    report["samples"]["mismatched"][0]["key"] = "<script>alert(1)</script>"
    return report


def _pixels(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, raw pixels) of an 8-bit RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    assert colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    data, stride = zlib.decompress(bytes(idat)), width * bpp
    out, prev = bytearray(), bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = data[start], bytearray(data[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                near = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + near) & 255
        out += line
        prev = line
    return width, height, bpp, bytes(out)


def _matches(pixels: bytes, bpp: int, width: int, colour: str, slack: int = 24) -> list[int]:
    """Rows (y) of every pixel within ``slack`` per channel of ``colour``."""
    want = bytes.fromhex(colour.lstrip("#"))
    rows = []
    for i in range(0, len(pixels), bpp):
        r, g, b = pixels[i : i + 3]
        if abs(r - want[0]) <= slack and abs(g - want[1]) <= slack and abs(b - want[2]) <= slack:
            rows.append(i // bpp // width)
    return rows


def test_chromium_shows_the_chart(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(_report()), encoding="utf-8")
    url = page.as_uri()

    dom = browse(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr
    assert '<svg id="latency-chart"' in dom.stdout
    assert 'class="series-legacy"' in dom.stdout
    assert 'class="series-ring"' in dom.stdout
    assert "<script" not in dom.stdout  # the hostile key stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout

    shot = tmp_path / "shot.png"
    done = browse(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", url)
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 0
    width, height, bpp, pixels = _pixels(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    for path, colour in COLOURS.items():
        rows = _matches(pixels, bpp, width, colour)
        # Far more than the legend's swatch: the bars were painted, over a tall band.
        assert len(rows) > 3000, f"{path}: only {len(rows)} pixels of {colour}"
        assert max(rows) - min(rows) > 150, f"{path}: painted rows {min(rows)}..{max(rows)}"
