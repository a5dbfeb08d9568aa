"""The SLO maths: budgets, burn rates and the multi-window multi-burn-rate policy."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.slo import (
    POLICY,
    WINDOWS,
    Counts,
    DeploymentObjectives,
    Severity,
    SloDefaults,
    SloDefinition,
    SloKind,
    api_definitions,
    budget_remaining,
    burn_rate,
    compute_status,
    deployment_definitions,
    evaluate,
    parse_slo_name,
    window_starts,
)


def rates(**given: float) -> dict[str, float]:
    return {window: given.get(f"w{window}", 0.0) for window in WINDOWS}


def test_burn_rate_is_the_bad_ratio_over_the_budget():
    assert burn_rate(Counts(1000, 1), 0.999) == pytest.approx(1.0)
    assert burn_rate(Counts(1000, 144), 0.99) == pytest.approx(14.4)
    assert burn_rate(Counts(0, 0), 0.999) == 0.0  # no traffic burns nothing


def test_budget_remaining_goes_negative_when_overspent():
    assert budget_remaining(Counts(0, 0), 0.999) == 1.0
    assert budget_remaining(Counts(10_000, 5), 0.999) == pytest.approx(0.5)
    assert budget_remaining(Counts(1000, 2), 0.999) == pytest.approx(-1.0)


@pytest.mark.parametrize(("burns", "expected"), [
    ({}, (Severity.OK, None)),
    ({"w1h": 14.4, "w5m": 14.4}, (Severity.PAGE, "page-1h-5m")),
    ({"w1h": 20, "w5m": 14.3}, (Severity.OK, None)),  # both windows must burn
    ({"w1h": 14.3, "w5m": 100}, (Severity.OK, None)),
    ({"w6h": 6, "w30m": 7}, (Severity.PAGE, "page-6h-30m")),
    ({"w1d": 3, "w2h": 3}, (Severity.TICKET, "ticket-1d-2h")),
    ({"w3d": 1, "w6h": 1}, (Severity.TICKET, "ticket-3d-6h")),
    # A page wins over a ticket that fires at the same time.
    ({"w3d": 2, "w6h": 7, "w30m": 7, "w1d": 1}, (Severity.PAGE, "page-6h-30m")),
])
def test_the_policy_fires_when_both_windows_burn(burns, expected):
    state = evaluate(rates(**burns))
    assert (state.severity, state.rule.name if state.rule else None) == expected


def test_the_policy_is_the_sre_workbooks():
    assert [(r.severity.value, r.long_window, r.short_window, r.factor) for r in POLICY] == [
        ("page", "1h", "5m", 14.4), ("page", "6h", "30m", 6.0),
        ("ticket", "1d", "2h", 3.0), ("ticket", "3d", "6h", 1.0),
    ]


def test_window_starts_count_the_current_minute():
    starts = window_starts(1000, 30)
    assert starts["5m"] == 996 and starts["1h"] == 941 and starts["3d"] == 1000 - 4320 + 1
    assert starts["budget"] == 1000 - 30 * 1440 + 1


def test_compute_status_uses_every_window():
    definition = SloDefinition("api-availability", SloKind.AVAILABILITY, "api")
    windows = {name: Counts(1000, 20) for name in WINDOWS} | {"budget": Counts(100_000, 20)}
    status = compute_status(definition, windows)
    assert status.burn_rates["5m"] == pytest.approx(20.0)
    assert status.alert.rule is not None and status.alert.rule.name == "page-1h-5m"
    assert status.error_budget_remaining == pytest.approx(0.8)


@pytest.mark.parametrize("kwargs", [
    {"objective": 1.0}, {"objective": 0.0}, {"window_days": 0},
    {"kind": SloKind.LATENCY}, {"kind": SloKind.LATENCY, "latency_threshold_seconds": -1},
    {"name": "Not A Name"},
])
def test_invalid_definitions_are_refused(kwargs):
    fields = {"name": "x-availability", "kind": SloKind.AVAILABILITY, "target": "api"} | kwargs
    with pytest.raises(InvalidInput):
        SloDefinition(**fields)


def test_defaults_and_overrides_make_the_definitions():
    defaults = SloDefaults()
    availability, latency = api_definitions(defaults)
    assert (availability.name, availability.objective) == ("api-availability", 0.999)
    assert (latency.objective, latency.latency_threshold_seconds) == (0.99, 0.5)

    plain = deployment_definitions(defaults, "d1", "churn")
    assert [d.name for d in plain] == ["deployment-churn-availability", "deployment-churn-latency"]
    assert plain[1].latency_threshold_seconds == 0.1 and plain[0].target == "deployment:d1"
    custom = deployment_definitions(
        defaults, "d1", "churn", DeploymentObjectives(0.95, None, 0.25)
    )
    assert custom[0].objective == 0.95 and custom[1].objective == 0.99
    assert custom[1].latency_threshold_seconds == 0.25


@pytest.mark.parametrize(("name", "parsed"), [
    ("api-availability", (SloKind.AVAILABILITY, None)),
    ("api-latency", (SloKind.LATENCY, None)),
    ("deployment-churn-prod-latency", (SloKind.LATENCY, "churn-prod")),
    ("deployment-api-availability", (SloKind.AVAILABILITY, "api")),
    ("deployment--latency", None), ("api", None), ("web-latency", None),
])
def test_slo_names_parse_back(name, parsed):
    assert parse_slo_name(name) == parsed
