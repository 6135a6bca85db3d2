"""The trend chart of the dashboard, drawn on the server as inline SVG (no script, no
library): one bar per day of the month with the collected total, in whole pixels. The day
labels under the bars are HTML, not SVG text: the SVG scales with the screen (to less than
half on a phone) and its text would shrink with it."""

from __future__ import annotations

import attrs

WIDTH = 720
HEIGHT = 180
AXIS = 2  # room under the bars for the axis line


@attrs.frozen
class Bar:
    """One bar: its box in pixels, the bucket it stands for and its amount (minor units)."""

    x: int
    y: int
    width: int
    height: int
    start: str
    amount: int
    count: int
    label: str


def bars(trend: dict) -> list[Bar]:
    """The bars of a ``loket.core.backoffice.trends.trends`` result (totals per bucket),
    scaled so the largest fills the chart; a day label under every bar (every fifth one
    when the month is long)."""
    amounts = [int(m["amount"]) for m in trend["totals"]["amounts"]]
    counts = trend["totals"]["counts"]
    if not amounts:
        return []
    top = max(max(amounts), 1)
    slot = WIDTH // len(amounts)
    gap = max(slot // 5, 1)
    every = 1 if len(amounts) <= 12 else 5
    out = []
    for index, (bucket, amount) in enumerate(zip(trend["buckets"], amounts, strict=True)):
        height = amount * (HEIGHT - AXIS) // top
        day = bucket["start"][8:10].lstrip("0")
        out.append(Bar(x=index * slot + gap // 2, y=HEIGHT - AXIS - height, width=slot - gap,
                       height=height, start=bucket["start"], amount=amount,
                       count=counts[index],
                       label=day if index % every == 0 or index == len(amounts) - 1 else ""))
    return out
