"""deploy/: the generated SLO rules match the policy, and every file passes its own checker.

promtool and amtool come from the Debian packages prometheus and prometheus-alertmanager
(scripts/dev.sh installs them); without them those checks are skipped, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maestro_ml.cli.main import app
from maestro_ml.domain.slo import SloDefaults
from maestro_ml.observability.slo_rules import render_rules

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
RULE_FILES = sorted(PROMETHEUS.glob("*.rules.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)")
    return path


def run(*args: str, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_committed_slo_rules_are_what_the_policy_generates(tmp_path: Path):
    result = CliRunner().invoke(app, ["slo", "rules", "--output", str(tmp_path)])

    assert result.exit_code == 0, result.output
    generated = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert generated == render_rules(SloDefaults())
    for name, content in generated.items():
        assert (PROMETHEUS / name).read_text() == content, f"regenerate {name}"


def test_rule_files_pass_promtool():
    run(tool("promtool"), "check", "rules", *[path.name for path in RULE_FILES])


def test_the_page_alert_fires_and_clears_in_promtool():
    run(tool("promtool"), "test", "rules", "tests/slo-alerts.test.yml")


def test_the_prometheus_config_is_valid():
    run(tool("promtool"), "check", "config", "--syntax-only", "prometheus.yml")


def test_alertmanager_config_is_valid_and_routes_by_severity():
    amtool = tool("amtool")
    config = str(DEPLOY / "alertmanager" / "alertmanager.yml")
    run(amtool, "check-config", config)
    for severity, receiver in (("critical", "pager"), ("warning", "chat"), ("info", "email")):
        out = run(amtool, "config", "routes", "test", f"--config.file={config}",
                  f"severity={severity}", "alertname=MaestroErrorBudgetBurn")
        assert out.strip() == receiver


def test_dashboards_are_grafana_json_on_a_datasource_variable():
    assert {path.stem for path in DASHBOARDS} == {
        "overview", "slo", "performance", "business", "infrastructure"
    }
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert board["templating"]["list"][0]["name"] == "datasource"
        for panel in board["panels"]:
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    assert len(uids) == len(DASHBOARDS)


def every_expr() -> list[str]:
    """Every PromQL expression of the rule files and the dashboards."""
    exprs = [
        rule["expr"] for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        exprs += [target["expr"] for panel in board["panels"] for target in panel["targets"]]
        exprs += [
            variable["definition"] for variable in board["templating"]["list"]
            if variable["type"] == "query"
        ]
    return exprs


def referenced_names() -> set[str]:
    """Metric and recording-rule names referenced by any expression (strings removed)."""
    names: set[str] = set()
    for expr in every_expr():
        bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
        names |= set(re.findall(r"\bmaestro[_:][A-Za-z0-9_:]+", bare))
    return names


def test_every_recording_rule_referenced_is_defined():
    recorded = {
        rule["record"] for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
        if "record" in rule
    }
    used = {name for name in referenced_names() if ":" in name}
    assert used and used <= recorded
