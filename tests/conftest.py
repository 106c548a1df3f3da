"""Session-wide rules: every test has a tier, and the caller's AITEXT_* environment never leaks in."""

from __future__ import annotations

import os

import pytest

# Fixture modules, one per real dependency the tests start (servers, Redis, ...).
pytest_plugins = [
    "tests.fixtures.server",
    "tests.fixtures.redis",
    "tests.fixtures.fake_provider",
    "tests.fixtures.ui",
    "tests.fixtures.gateway",
    "tests.fixtures.otlp",
    # Last: fails the run if any process the tests started outlives the session.
    "tests.fixtures.leftovers",
]

# Each test module declares one (`pytestmark = pytest.mark.unit`); `make check` runs the first.
TIERS = ("unit", "integration", "e2e")

# A user following the README exports AITEXT_API_KEYS, AITEXT_REDIS_URL, ...; settings read the
# environment, so the suite would test their configuration instead of its own. Cleared at import,
# before any fixture or child process reads them; tests set what they need.
for _name in [name for name in os.environ if name.startswith("AITEXT_")]:
    del os.environ[_name]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    untiered = sorted({item.nodeid.split("::")[0] for item in items if not _tiers_of(item)})
    if untiered:
        raise pytest.UsageError(f"test modules without a tier marker ({', '.join(TIERS)}): {', '.join(untiered)}")


def _tiers_of(item: pytest.Item) -> list[str]:
    return [marker.name for marker in item.iter_markers() if marker.name in TIERS]
