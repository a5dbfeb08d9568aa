"""The attack battery's counts: requests tried and violations found, per category.

Each pytest process (xdist worker) counts its own; workers hand theirs to the controller at
the end (``workeroutput``), which prints the merged table.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Tally:
    """Requests tried and violations found, per battery category, over the session."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()

    def record(self, category: str, requests: int, violations: list[str]) -> None:
        self.requests[category] += requests
        self.violations[category] += len(violations)

    def export(self) -> dict[str, dict[str, int]]:
        return {"requests": dict(self.requests), "violations": dict(self.violations)}

    def merge(self, data: dict[str, dict[str, int]]) -> None:
        self.requests.update(data.get("requests", {}))
        self.violations.update(data.get("violations", {}))

    def write_summary(self, terminalreporter: Any) -> None:
        if not self.requests:
            return
        terminalreporter.section("attack battery")
        width = max(len(name) for name in [*self.requests, "total"])
        for category in sorted(self.requests):
            terminalreporter.write_line(
                f"{category:<{width}}  {self.requests[category]:>6} requests, "
                f"{self.violations[category]} violations"
            )
        terminalreporter.write_line(
            f"{'total':<{width}}  {sum(self.requests.values()):>6} requests, "
            f"{sum(self.violations.values())} violations"
        )


TALLY = Tally()
