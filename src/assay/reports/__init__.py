"""Reports of evaluation runs: one self-contained HTML file per run, read from the workspace.

    >>> from assay.reports import write_report
    >>> write_report(RunStore(Workspace.find()), run_id)          # <workspace>/reports/<id>.html

Modules: ``html`` (the page), ``figures`` (its plots, as inline PNG), ``analysis`` (what the page
shows, computed from the stored records), ``style`` (CSS and the sample-table script),
``display`` (``assay.run`` / ``assay.compare``: views of runs in a notebook), ``evaluate``
(``assay.evaluate``: evaluate and view in one call), ``text`` (metrics as terminal lines).
"""

from __future__ import annotations

from assay.reports.html import render_report, write_report

__all__ = ["render_report", "write_report"]
