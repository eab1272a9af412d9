"""The rehearsal report: one template, shown in the admin and written as a standalone file.

The standalone file inlines Chart.js (vendored under config/static/vendor/chart.js, MIT) so a
privacy officer can mail it to a director and it opens offline.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from operations.models import RehearsalRun

CHART_JS = "vendor/chart.js/chart.umd.min.js"


def _chart_js_source() -> str:
    path = finders.find(CHART_JS)
    return Path(path).read_text(encoding="utf-8") if path else ""


def report_html(run: RehearsalRun) -> str:
    return render_to_string("operations/report_standalone.html",
                            {"run": run, "s": run.summary, "chart_js": _chart_js_source()})


def report_write(run: RehearsalRun) -> Path:
    """Write the standalone report under VAR_DIR/rehearsals/ and remember where."""
    folder = Path(settings.VAR_DIR) / "rehearsals"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rehearsal-{run.pk}.html"
    path.write_text(report_html(run), encoding="utf-8")
    RehearsalRun.objects.filter(pk=run.pk).update(report_path=str(path))
    run.report_path = str(path)
    return path
