"""`mtp pipeline run`: recipes that chain tokenize -> train -> generate -> eval -> report.

Components: `recipe` (YAML, --set, type checks), `spec` (a recipe made into step configs and
paths), `markers` (done-markers: skip a step whose settings and inputs are unchanged), `runner`
(the steps in order), `summary` (the final table, read back from the artifacts).
"""

from mtp_cli.pipeline.recipe import load_recipe_file
from mtp_cli.pipeline.runner import PipelineInterrupted, PipelineResult, QuietReporter, run_pipeline
from mtp_cli.pipeline.spec import PipelineSpec, build_pipeline
from mtp_cli.pipeline.summary import SummaryRow, summarize_pipeline

__all__ = [
    "PipelineInterrupted",
    "PipelineResult",
    "PipelineSpec",
    "QuietReporter",
    "SummaryRow",
    "build_pipeline",
    "load_recipe_file",
    "run_pipeline",
    "summarize_pipeline",
]
