"""``maestro slo rules``: Prometheus rules for the SLOs, generated from the one policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from maestro_ml.domain.slo import SloDefaults
from maestro_ml.observability.slo_rules import write_rules

from .settings_options import load_settings

console = Console(stderr=True)
slo_app = typer.Typer(help="Service level objectives.", no_args_is_help=True)


@slo_app.command("rules")
def rules(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="directory for the rule files")
    ] = Path("deploy/prometheus"),
) -> None:
    """Write the SLO recording and burn-rate alert rules (objectives from MAESTRO_SLO_*)."""
    for path in write_rules(SloDefaults.from_settings(load_settings()), output):
        console.print(f"wrote {path}")
