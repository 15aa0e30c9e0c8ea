"""Pure figure functions: plain data (``clinical.charts.data``) -> plotly figure.

Nothing here touches the ORM; the selectors in ``clinical.selectors.dashboard`` prepare
the data and the views send the figure to the page through ``json_script``.

A figure is returned as the plain dict plotly.js draws (``{"data": [...], "layout":
{...}}``), not as a ``plotly.graph_objects.Figure``: validating and deep-copying a
2,000-point figure through the graph objects took 200 ms, most of the patient dashboard's
time budget. The tests pass every figure through ``go.Figure`` so that a property
plotly.js does not know still fails there.
"""

from __future__ import annotations

from clinical.charts.cohort import (
    hba1c_change_figure,
    open_alerts_figure,
    response_class_figure,
    subtype_site_figure,
    suppress,
    tg_waterfall_figure,
)
from clinical.charts.common import CONFIG, TABLE_COLUMNS, table_rows
from clinical.charts.patient import patient_dashboard_figure

__all__ = [
    "CONFIG",
    "TABLE_COLUMNS",
    "hba1c_change_figure",
    "open_alerts_figure",
    "patient_dashboard_figure",
    "response_class_figure",
    "subtype_site_figure",
    "suppress",
    "table_rows",
    "tg_waterfall_figure",
]
