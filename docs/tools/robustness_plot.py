"""Draws docs/robustness.svg (detection rate per attack) from the picture robustness table
in docs/watermark.md. Standard library only: python3 docs/tools/robustness_plot.py"""

import html
import pathlib
import re

DOCS = pathlib.Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| (?P<attack>[^|]+?) \| (?P<hits>\d+)/(?P<total>\d+) \((?P<pct>\d+) %\) \|$")


def rows():
    text = (DOCS / "watermark.md").read_text()
    # The first table after "## Measured" is the picture table; the video one comes later.
    table = text.split("## Measured", 1)[1]
    found = []
    for line in table.splitlines():
        match = ROW.match(line.strip())
        if match:
            found.append((match["attack"], int(match["hits"]), int(match["total"])))
        elif found and not line.startswith("|"):
            break
    return found


def svg(data):
    label_w, bar_w, row_h, top = 390, 360, 18, 40
    width, height = label_w + bar_w + 70, top + row_h * len(data) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
        "Exact 64-bit payload recovered, per attack</text>",
    ]
    for i, (attack, hits, total) in enumerate(data):
        y = top + i * row_h
        rate = hits / total
        colour = "#2e7d32" if rate >= 0.99 else "#f9a825" if rate >= 0.8 else "#c62828"
        out.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{html.escape(attack)}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * rate:.1f}" height="{row_h - 6}" fill="{colour}"/>')
        out.append(f'<text x="{label_w + bar_w * rate + 4:.1f}" y="{y + 13}">{rate * 100:.0f} %</text>')
    bottom = top + row_h * len(data)
    for pct in (0, 50, 90, 99, 100):
        x = label_w + bar_w * pct / 100
        dash = ' stroke-dasharray="4 3"' if pct in (90, 99) else ""
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#555"{dash}/>')
        if pct != 100:
            out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{pct} %</text>')
    out.append(
        f'<text x="{label_w}" y="{bottom + 32}">dashed: the targets (99 %; 90 % for 15-degree rotation, '
        "flip and 0.25 downscale)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    data = rows()
    assert data, "no robustness table found in docs/watermark.md"
    (DOCS / "robustness.svg").write_text(svg(data))
    print(f"wrote docs/robustness.svg ({len(data)} attacks)")
