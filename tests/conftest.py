# Fixture modules, one per real dependency the tests start (servers, Redis, ...).
pytest_plugins = [
    "tests.fixtures.server",
    "tests.fixtures.redis",
    "tests.fixtures.fake_provider",
    "tests.fixtures.ui",
    "tests.fixtures.gateway",
]
