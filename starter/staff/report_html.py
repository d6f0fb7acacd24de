"""The performance report as one self-contained HTML page with SVG charts (no scripts)."""

from __future__ import annotations

from html import escape

from activities.report import FIGURES, Report

BLUE, GREEN, RED, GREY, LIGHT_GREEN, LIGHT_RED = "#1d70b8", "#00703c", "#d4351c", "#b1b4b6", "#85994b", "#f47738"


def bar_chart(title: str, labels: list[str], series: dict[str, tuple[str, list[int]]], stacked: bool = True) -> str:
    """A bar chart per label (month): stacked series, or grouped when not stacked."""
    width, height, left, bottom = 640, 240, 40, 30
    totals = [
        sum(v[i] for _, v in series.values()) if stacked else max((v[i] for _, v in series.values()), default=0)
        for i in range(len(labels))
    ]
    top = max(totals, default=0) or 1
    slot = (width - left) / max(len(labels), 1)
    bar = slot * 0.7 / (1 if stacked else max(len(series), 1))
    scale = (height - bottom - 10) / top
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height + 20}" '
        f'viewBox="0 0 {width} {height + 20}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, label in enumerate(labels):
        x0, base = left + i * slot + slot * 0.15, height - bottom
        for j, (name, (colour, values)) in enumerate(series.items()):
            h = values[i] * scale
            x = x0 if stacked else x0 + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)} {escape(name)}: {values[i]}</title></rect>"
            )
            if stacked:
                base -= h
        parts.append(f'<text x="{x0:.1f}" y="{height - 10}" font-size="11">{escape(label)}</text>')
    parts.append(f'<text x="0" y="12" font-size="11">{top}</text></svg>')
    # The square carries the colour; the words stay in the text's colour, for contrast (WCAG 1.4.3).
    legend = " ".join(
        f'<span><span style="color:{colour}" aria-hidden="true">&#9632;</span> {escape(n)}</span>'
        for n, (colour, _) in series.items()
    )
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}<p>{legend}</p></figure>"


def body(report: Report) -> str:
    """The report's content (figures and charts), for this page and for the web app's."""
    place = escape(report.locality or "all localities")
    rows = "".join(
        f"<tr><th scope='row'>{escape(label)}</th><td>{'not recorded' if getattr(report, field) is None else getattr(report, field)}</td></tr>"
        for field, label in FIGURES
    )
    months = [m.month for m in report.months]
    referrals = bar_chart(
        "Referrals per month by outcome",
        months,
        {
            "accepted": (BLUE, [m.accepted for m in report.months]),
            "signposted": (GREEN, [m.signposted for m in report.months]),
            "stepped up": (RED, [m.stepped_up for m in report.months]),
            "other": (GREY, [m.other for m in report.months]),
        },
    )
    deadlines = bar_chart(
        "Deadline performance per month",
        months,
        {
            "TAF on time": (GREEN, [m.taf_on_time for m in report.months]),
            "TAF late": (RED, [m.taf_late for m in report.months]),
            "reviews on time": (LIGHT_GREEN, [m.reviews_on_time for m in report.months]),
            "reviews late": (LIGHT_RED, [m.reviews_late for m in report.months]),
        },
        stacked=False,
    )
    return f"""<p>{report.period_from} to {report.period_to}, {place}. Figures of the Early Help and Prevention Protocol.</p>
<table><caption>Figures</caption><tbody>{rows}</tbody></table>
{referrals}
{deadlines}"""


def render(report: Report) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Early Help performance {report.period_from} to {report.period_to}</title>
<style>body{{font-family:Arial,sans-serif;margin:2rem;max-width:48rem}}table{{border-collapse:collapse}}
th,td{{border-bottom:1px solid #b1b4b6;padding:.4rem .8rem;text-align:left}}figure{{margin:2rem 0}}</style></head>
<body><h1>Early Help performance</h1>
{body(report)}
</body></html>
"""
