"""``maestro audit verify|export``: operator access to every audit chain, straight from the DB."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from .settings_options import load_settings

console = Console(stderr=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data directory")]
TenantOption = Annotated[
    str | None,
    typer.Option("--tenant-id", help="one chain: a tenant id, or 'platform'; default: all"),
]


def _audit(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from maestro_ml.bootstrap import build_container  # wiring is heavy: load it on use

    return build_container(load_settings(data_dir), migrate=False).audit


@audit_app.command("verify")
def verify(tenant_id: TenantOption = None, data_dir: DataDir = None) -> None:
    """Re-hash every chain; exit 1 naming the first broken seq when one was tampered with."""
    reports = _audit(data_dir).verify(tenant_id)
    broken = [report for report in reports if not report.ok]
    for report in reports:
        if report.ok:
            console.print(f"[green]ok[/] chain {report.chain}: {report.checked} events")
        else:
            console.print(
                f"[red]BROKEN[/] chain {report.chain} at seq {report.broken_seq}: {report.reason}"
            )
    if not reports:
        console.print("no audit events yet")
    if broken:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    tenant_id: TenantOption = None, data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file; default stdout")]
    = None,
) -> None:
    """Write events as JSON lines, chain by chain, in seq order."""
    audit = _audit(data_dir)
    chains = [tenant_id] if tenant_id else audit.chains()
    target = output.open("wb") if output else sys.stdout.buffer
    try:
        for chain in chains:
            for event in audit.chain_events(chain):
                target.write(orjson.dumps(event) + b"\n")
    finally:
        if output:
            target.close()
        else:
            target.flush()
