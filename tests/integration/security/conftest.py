"""Fixtures of the attack battery and its session summary.

Two tenants, each holding one object of every kind (``world``), so an attack can aim the
victim's real ids at routes the attacker may call; ``Tally`` counts the requests each
category tried and the violations it found (``tally.py``; printed at the end of the session
by ``tests/integration/conftest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.factories import make_tenant
from tests.integration.security.tally import TALLY, Tally
from tests.integration.tenant_world import Holdings, populate


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


@dataclass
class World:
    attacker: Holdings
    victim: Holdings


@pytest.fixture(scope="session")
def world(client: TestClient, root_token: str) -> World:
    attacker = populate(client, make_tenant(client, root_token))
    victim = populate(client, make_tenant(client, root_token))
    return World(attacker=attacker, victim=victim)
