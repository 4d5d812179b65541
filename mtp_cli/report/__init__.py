"""`mtp report`: figures and a Markdown summary of training runs, samples and evaluations.

    from mtp_cli.report import ReportConfig, write_report
    result = write_report(ReportConfig(inputs=[Path("runs/n1"), Path("runs/n4"), Path("samples")], out=Path("report")))

Modules: `collect` (finding and reading the artifacts), `measures` (the numbers), `figures` (one
matplotlib figure each), `summary` (summary.md), `report` (the step). Imports matplotlib, not torch.
"""

from mtp_cli.report.collect import Collected, collect
from mtp_cli.report.report import ReportConfig, ReportResult, write_report

__all__ = ["Collected", "ReportConfig", "ReportResult", "collect", "write_report"]
