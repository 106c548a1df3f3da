"""How keys name their tenants, how tenants are configured, and the namespace each one gets."""

from __future__ import annotations

import hashlib

import pytest
from aitext.config import ConfigError, Settings
from aitext.pipeline import Pipeline
from aitext.security.api_keys import parse_env_keys, parse_key_file
from aitext.security.setup import build_access, load_keys
from aitext.security.tenants import CALLER, Tenants, allows, current_caller, derived_tenant
from pydantic import ValidationError

pytestmark = pytest.mark.unit


def own_tenant(secret: str) -> str:
    return derived_tenant(hashlib.sha256(secret.encode()).digest())


@pytest.mark.parametrize(
    ("entry", "scopes", "tenant"),
    [
        ("k1", {"process"}, own_tenant("k1")),
        ("k1:process+admin", {"process", "admin"}, own_tenant("k1")),
        ("k1:admin@acme", {"admin"}, "acme"),
        ("k1:process,ops@acme.eu-1", {"process", "ops"}, "acme.eu-1"),
        ("k1:@acme", {"process"}, "acme"),
        # The tenant comes after the colon only: a secret with '@' and no colon means what it did.
        ("user@example", {"process"}, own_tenant("user@example")),
    ],
)
def test_env_key_grammar(entry, scopes, tenant):
    (key,) = parse_env_keys([entry])
    assert (key.scopes, key.tenant) == (frozenset(scopes), tenant)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("k1:process@ac:me", "tenant"),
        ("k1:process@acme*", "tenant"),
        ("k1:process@[ab]", "tenant"),
        ("k1:process@", "tenant"),
        ("k1:process@key-0123", "reserved"),
        ("k1:root@acme", "unknown scope"),
        (":process@acme", "no key"),
    ],
)
def test_bad_env_keys_are_refused_with_a_reason(entry, message):
    with pytest.raises(ValueError, match=message):
        parse_env_keys([entry])


def test_key_file_names_tenants_the_same_way(tmp_path):
    digest = hashlib.sha256(b"file-secret").hexdigest()
    path = tmp_path / "keys"
    path.write_text(
        f"ci sha256:{digest} process@acme  # a comment\n"
        f"ops sha256:{digest} ops@operators\n"
        f"plain sha256:{digest}\n"
        f"only-tenant sha256:{digest} @acme\n"
    )
    keys = {key.name: key for key in parse_key_file(path)}
    assert (keys["ci"].tenant, keys["ci"].scopes) == ("acme", frozenset({"process"}))
    assert keys["ops"].tenant == "operators" and keys["ops"].allows("admin")
    assert keys["plain"].tenant == own_tenant("file-secret")
    assert (keys["only-tenant"].tenant, keys["only-tenant"].scopes) == ("acme", frozenset({"process"}))
    path.write_text(f"ci sha256:{digest} process@a:b\n")
    with pytest.raises(ValueError, match=f"{path}:1"):
        parse_key_file(path)


def test_a_bad_tenant_stops_the_server_with_a_config_error():
    with pytest.raises(ConfigError, match="tenant"):
        load_keys(Settings(api_keys=["k1:process@bad:name"]))
    with pytest.raises(ConfigError, match="AITEXT_TENANTS"):
        build_access(Settings(api_keys=["k1"], tenants={"bad*name": {"shared": True}}))


def test_the_derived_tenant_is_stable_and_reveals_nothing_of_the_key():
    secret = "a-secret-key-value"
    tenant = own_tenant(secret)
    assert tenant == own_tenant(secret) != own_tenant(secret + "x")
    assert secret not in tenant and hashlib.sha256(secret.encode()).hexdigest()[:16] not in tenant
    assert len(tenant) == len("key-") + 16


def test_scopes_nest():
    assert allows(frozenset({"ops"}), "admin") and allows(frozenset({"ops"}), "process")
    assert allows(frozenset({"admin"}), "process") and not allows(frozenset({"admin"}), "ops")
    assert not allows(frozenset({"process"}), "admin")


def test_tenant_policies_default_to_the_deployment_and_override_per_tenant(monkeypatch):
    monkeypatch.setenv(
        "AITEXT_TENANTS", '{"acme": {"shared": true, "max_ttl_seconds": 60, "rate_limit_per_second": 2}}'
    )
    monkeypatch.setenv("AITEXT_TENANT_MAX_TTL_SECONDS", "3600")
    tenants = Tenants(Settings())
    acme, other = tenants.get("acme"), tenants.get("other")
    assert (acme.shared, acme.max_ttl_seconds, acme.rate_limit_per_second, acme.rate_limit_burst) == (True, 60, 2, 200)
    assert (other.shared, other.max_ttl_seconds, other.rate_limit_per_second) == (False, 3600, 0)
    assert Tenants(Settings(cache_shared=True)).get("other").shared


def test_a_typo_in_a_tenant_policy_is_refused(monkeypatch):
    monkeypatch.setenv("AITEXT_TENANTS", '{"acme": {"max_ttl": 60}}')
    with pytest.raises(ValidationError, match="max_ttl"):
        Settings()


def test_the_namespace_grammar():
    pipeline = Pipeline(Settings(cache_namespace="prod"), None, None)  # type: ignore[arg-type]
    tenants = Tenants(Settings(tenants={"acme": {"shared": True}}))
    assert pipeline.namespace_for(tenants.get("beta")) == "prod:t:beta"
    assert pipeline.namespace_for(tenants.get("acme")) == "prod:shared"


def test_the_cache_secret_must_be_long_and_is_never_echoed(monkeypatch):
    monkeypatch.setenv("AITEXT_CACHE_SECRET", "short-secret")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "at least 16" in str(refused.value) and "short-secret" not in str(refused.value)


def test_without_the_interceptor_there_is_no_caller():
    assert CALLER.get() is None
    with pytest.raises(LookupError):
        current_caller()
