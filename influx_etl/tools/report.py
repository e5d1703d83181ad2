"""The run report's HTML page: one self-contained file with its charts embedded, for people.

``influx report`` reads one run of a dataset (:func:`~influx_etl.tools.report_run.read_run`, the
only I/O besides :func:`write_report`) and renders, as pure functions from frames to figures and
HTML:

* the funnel (seed rows → handles looked up → found → past each filter → kept → new);
* throughput over time, from each batch's ``requested_at`` and ``elapsed_s`` in ``raw_lookups``;
* rate-limit waits: the quota the server stated (``raw_lookups.rate_limit``), extra attempts,
  429 answers, and the stretches when no request was in flight (every worker waiting);
* outcomes per seed file (``handle_outcomes``), with the seed rows rejected before lookup;
* the accounts the run dropped, each with the decision and the brand rules / risk flags behind it
  (``handle_outcomes``), sorted by decision then handle, with a count per decision;
* what changed in the dataset: ``runs.counts`` (new, updated, unchanged, removed), the authors
  the run added or changed (``author_snapshots``: no earlier snapshot, or other followers, or
  ``authors.last_changed_run``), those that left (every one: the tables are never cut), and the
  dataset size after each run.

A synthetic dataset (the embedded server's made-up profiles) is headed by :data:`SYNTHETIC_BANNER`.

The rooms: :mod:`~influx_etl.tools.report_run` reads the run, :mod:`~influx_etl.tools.report_frames`
derives its tables, :mod:`~influx_etl.tools.report_figures` draws the charts (base64 PNG, so the
file opens anywhere, offline, and can be mailed as is) and :mod:`~influx_etl.tools.report_html`
holds the escaping building blocks and the Content-Security-Policy this page is put together with:
every piece of profile text reaches the page through ``markupsafe``, never by concatenation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

import polars as pl
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from influx_etl import funnel
from influx_etl.errors import ExportError
from influx_etl.sources.xclient import utc_now_iso
from influx_etl.tools.report_figures import (
    changes_figure,
    funnel_figure,
    png_data_uri,
    rate_limit_figure,
    seed_files_figure,
    throughput_figure,
)
from influx_etl.tools.report_frames import (
    IDLE_GAP_S,
    batch_timeline,
    decision_counts,
    dropped_accounts,
    funnel_stages,
    rate_limit_summary,
    seed_file_outcomes,
    throughput_summary,
)
from influx_etl.tools.report_html import (
    CONTENT_SECURITY_POLICY,
    STYLESHEET,
    html_table,
    image,
    key_values_table,
    note_paragraph,
)
from influx_etl.tools.report_run import RunData, read_run

FUNNEL_LABELS: Final = dict(funnel.FUNNEL_LABELS)
_USAGE_HEADERS: Final = {
    "day": "day (UTC)",
    "requests": "requests",
    "users_read": "users read",
    "billable": "billable users",
}
"""Every key of ``runs.counts``, in funnel order, with what it means."""
_NOT_HANDLES: Final = [
    "seed_rows",
    "invalid_seed_rows",
    "refused_seed_files",
    "broken_input_lines",
    "unrequested_users",
    "exported",
]
"""Counts that are not of looked-up handles (no share of them is shown)."""

SYNTHETIC_BANNER: Final = "SYNTHETIC — made up by the embedded server, not real data"
"""Heads the report of a synthetic dataset's run."""


@dataclass(frozen=True)
class WrittenReport:
    run_id: str
    path: Path


def write_report(
    dataset: Path, out: Path | None = None, run_id: str | None = None
) -> WrittenReport:
    """Write the HTML report of ``run_id`` (default: the newest run); returns the run reported
    and the file written.

    Without ``out`` it goes to ``reports/run-<RUN_ID>.html`` beside the dataset file.
    """
    data = read_run(dataset, run_id)
    reported = str(data.run["run_id"])
    target = out or dataset.parent / "reports" / f"run-{reported}.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html(data, generated_at=utc_now_iso()), encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write the report {target}: {exc}") from None
    return WrittenReport(reported, target)


def _figure(fig: Figure, alt: str) -> Markup:
    return image(alt, png_data_uri(fig))


def _duration(started: str | None, finished: str | None) -> str:
    if not started or not finished:
        return "unfinished"
    times = pl.Series([started, finished]).str.to_datetime(time_unit="ms", time_zone="UTC")
    seconds = (times[1] - times[0]).total_seconds()
    return f"{seconds:,.1f} s" if seconds < 180 else f"{seconds / 60:,.1f} min"


def _authors_table(frame: pl.DataFrame) -> Markup:
    return html_table(frame.rename(_AUTHOR_HEADERS, strict=False))


def _dropped_section(outcomes: pl.DataFrame) -> Markup:
    dropped = dropped_accounts(outcomes)
    if dropped.is_empty():
        return note_paragraph("The run dropped no account.")
    return (
        html_table(decision_counts(dropped))
        + note_paragraph(
            "Every account the run did not keep, by decision (in funnel order) then handle: "
            "the brand rules and risk flags each matched, or why the lookup found none."
        )
        + html_table(dropped.rename(_DROPPED_HEADERS, strict=False))
    )


_SEED_FILE_HEADERS: Final = {
    "seed_file": "seed file",
    "below_threshold": "below threshold",
    "not_found": "not found",
    "not_found_rate": "not-found rate",
    "suspended_rate": "suspended rate",
    "rejected": "rejected seed rows",
}


_DROPPED_HEADERS: Final = {
    "seed_file": "seed file",
    "followers_count": "followers",
    "brand_matches": "brand rules matched",
    "risk_flags": "risk flags",
    "risk_matches": "risk terms matched",
    "outcome_detail": "lookup detail",
}


_AUTHOR_HEADERS: Final = {
    "followers_before": "followers before",
    "followers_change": "change in followers",
    "in_dataset_now": "in the dataset now",
    "followers_count": "followers",
}


def render_html(data: RunData, *, generated_at: str) -> str:
    """The whole report as one HTML document (charts inline as base64 PNG)."""
    run = data.run
    run_id = str(run["run_id"])
    counts = data.counts
    timeline = batch_timeline(data.batches)
    per_file = seed_file_outcomes(data.outcomes, data.seed_rejects)
    status = str(run.get("status") or "")
    meta = Markup(" · ").join(
        part
        for part in (
            Markup('<span class="status-{}">{}</span>').format(status, status),
            escape(f"source {run.get('source')}"),
            escape(f"started {run.get('started_at')}"),
            escape(f"took {_duration(run.get('started_at'), run.get('finished_at'))}"),
            escape(f"by {run['operator']}") if run.get("operator") else "",
        )
        if part
    )
    looked_up = counts.get("looked_up", 0)
    funnel_rows = pl.DataFrame(
        {
            "count": list(FUNNEL_LABELS),
            "meaning": list(FUNNEL_LABELS.values()),
            "handles": [counts.get(k, 0) for k in FUNNEL_LABELS],
        }
    ).with_columns(
        pl.when(~pl.col("count").is_in(_NOT_HANDLES))
        .then(pl.col("handles") / looked_up if looked_up else pl.lit(None, pl.Float64))
        .alias("of looked up")
    )
    replay = str(run.get("source") or "").startswith("replay:")
    no_requests = note_paragraph(
        f"This run sent no request: it replayed {str(run['source'])[7:]}'s stored lookups with "
        "the current rules."
        if replay
        else "This run stored no batch."
    )
    changes_note = (
        "New: the dataset had no earlier snapshot of the author. Updated: looked up again with "
        "other data (followers before and after come from the author snapshots). Not in the "
        "dataset now: a later run removed the author. The counts above are the run's own."
    )
    none = note_paragraph("None.")
    sections = [
        (
            "funnel",
            "Funnel",
            _figure(funnel_figure(funnel_stages(counts)), "filter funnel")
            + html_table(funnel_rows, percent=["of looked up"]),
        ),
        (
            "throughput",
            "Throughput",
            (
                _figure(throughput_figure(timeline), "throughput")
                + key_values_table(throughput_summary(timeline))
            )
            if not timeline.is_empty()
            else no_requests,
        ),
        (
            "rate-limit",
            "Rate-limit waits",
            (
                _figure(rate_limit_figure(timeline), "rate limit")
                + key_values_table(rate_limit_summary(timeline))
                + note_paragraph(
                    f"A wait is a stretch of {IDLE_GAP_S} s or more when no request was in "
                    "flight: the workers held for the window's reset, a 429, or a backoff."
                )
            )
            if not timeline.is_empty()
            else no_requests,
        ),
        (
            "seed-files",
            "Outcomes per seed file",
            _figure(seed_files_figure(per_file), "decision per seed file")
            + html_table(
                per_file.rename(_SEED_FILE_HEADERS, strict=False),
                percent=["not-found rate", "suspended rate"],
            )
            + note_paragraph("Rejected seed rows were not valid handles (never looked up)."),
        ),
        ("dropped", "Dropped accounts", _dropped_section(data.outcomes)),
        (
            "usage",
            "API usage per UTC day",
            (
                html_table(data.usage.rename(_USAGE_HEADERS))
                + note_paragraph(
                    "Every run of this dataset, from the usage ledger. A user read again the "
                    "same UTC day is billed once (influx usage prints the same per run and "
                    "endpoint)."
                )
            )
            if not data.usage.is_empty()
            else note_paragraph("No request recorded yet."),
        ),
        (
            "changes",
            "What changed in the dataset",
            _figure(changes_figure(counts, data.history, run_id), "dataset changes")
            + note_paragraph(changes_note)
            + Markup("<h3>New and updated authors</h3>")
            + (
                _authors_table(data.changed_authors)
                if not data.changed_authors.is_empty()
                else none
            )
            + Markup("<h3>Left the dataset</h3>")
            + (_authors_table(data.left_authors) if not data.left_authors.is_empty() else none),
        ),
    ]
    nav = Markup("").join(
        Markup('<a href="#{}">{}</a>').format(anchor, title) for anchor, title, _ in sections
    )
    body = Markup("").join(
        Markup('<section id="{}"><h2>{}</h2>{}</section>').format(anchor, title, content)
        for anchor, title, content in sections
    )
    page = Markup(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>influx run {run_id}</title><style>{css}</style></head><body>{banner}"
        "<h1>Run {run_id}</h1><p class='meta'>{meta}</p>"
        "<p class='meta'>dataset {dataset}</p>{rules_note}"
        "<nav>{nav}</nav>{body}"
        "<footer>influx_etl {version} · generated {generated_at}</footer>"
        "</body></html>\n"
    ).format(
        csp=CONTENT_SECURITY_POLICY,
        run_id=run_id,
        banner=Markup('<p class="synthetic">{}</p>').format(SYNTHETIC_BANNER)
        if data.synthetic
        else "",
        css=Markup(STYLESHEET),  # our own constant: a stylesheet's text is not HTML-escaped
        meta=meta,
        dataset=str(data.dataset),
        rules_note=_rules_note(run.get("rules_versions")),
        nav=nav,
        body=body,
        version=_package_version(),
        generated_at=generated_at,
    )
    return str(page)


def _rules_note(rules_versions: str | None) -> Markup:
    """``brand rules 2.1.0 (472f66d0) · ...`` from the run's recorded rule file versions."""
    try:
        versions = json.loads(rules_versions or "{}")
    except ValueError:
        return Markup("")
    parts = []
    for name, value in sorted(versions.items()):
        if isinstance(value, dict):
            digest = str(value.get("sha256") or "")[:8]
            label = f"{name} {value.get('version')}" + (f" ({digest})" if digest else "")
        else:
            label = f"{name} {value}"
        parts.append(label)
    if not parts:
        return Markup("")
    return Markup("<p class='meta'>rules: {}</p>").format(" · ".join(parts))


def _package_version() -> str:
    try:
        return version("influx_etl")
    except PackageNotFoundError:
        return "(not installed)"
