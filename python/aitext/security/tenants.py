"""Tenants: who owns a cache partition, and the caller of the current RPC.

Every API key belongs to a tenant. The access interceptor authenticates the key
and sets `CALLER` for the call; the servicer reads it back with `current_caller()`.
A ContextVar is enough because grpc.aio runs a call's interceptors and its handler
in one asyncio task, and each call has a task (and so a context) of its own.
"""

from __future__ import annotations

import hashlib
import re
from contextvars import ContextVar
from dataclasses import dataclass

from aitext.config import Settings

# Tenant names go into cache keys, rate-limit keys and SCAN patterns: no ':' (the key's separator),
# no glob characters (* ? [ ] \), nothing a shell or a log would mangle.
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Derived ids of keys configured without a tenant; configured names may not look like one.
DERIVED_PREFIX = "key-"
ANONYMOUS = "anonymous"

SCOPES = ("process", "admin", "ops")


def check_tenant_name(name: str, where: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise ValueError(
            f"{where}: tenant {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit"
        )
    if name.startswith(DERIVED_PREFIX):
        raise ValueError(f"{where}: tenant names starting with {DERIVED_PREFIX!r} are reserved for keys without one")
    return name


def derived_tenant(key_digest: bytes) -> str:
    """The tenant of a key configured without one: stable, and says nothing about the key."""
    return DERIVED_PREFIX + hashlib.sha256(b"aitext/tenant-id/v1\0" + key_digest).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    shared: bool  # reads and writes the shared pool instead of a partition of its own
    max_ttl_seconds: int  # the largest cache_control.ttl_seconds its requests may set
    rate_limit_per_second: float  # 0: no per-tenant limit (per-key limits still apply)
    rate_limit_burst: int


class Tenants:
    """Each tenant's policy: the deployment's defaults, overridden per tenant by AITEXT_TENANTS."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        for name in settings.tenants:
            check_tenant_name(name, "AITEXT_TENANTS")
        self._known: dict[str, Tenant] = {}

    def get(self, name: str) -> Tenant:
        tenant = self._known.get(name)
        if tenant is None:
            s = self._settings
            own = s.tenants.get(name)
            tenant = self._known[name] = Tenant(
                name,
                shared=s.cache_shared if own is None or own.shared is None else own.shared,
                max_ttl_seconds=s.tenant_max_ttl_seconds
                if own is None or own.max_ttl_seconds is None
                else own.max_ttl_seconds,
                rate_limit_per_second=s.tenant_rate_limit_per_second
                if own is None or own.rate_limit_per_second is None
                else own.rate_limit_per_second,
                rate_limit_burst=s.tenant_rate_limit_burst
                if own is None or own.rate_limit_burst is None
                else own.rate_limit_burst,
            )
        return tenant


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one RPC."""

    key_name: str
    tenant: Tenant
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return allows(self.scopes, scope)


def allows(scopes: frozenset[str], scope: str) -> bool:
    """Scopes nest: ops includes admin, admin includes process."""
    return SCOPES.index(scope) <= max((SCOPES.index(s) for s in scopes), default=-1)


CALLER: ContextVar[Caller | None] = ContextVar("aitext_caller", default=None)


def current_caller() -> Caller:
    """The caller the access interceptor authenticated for this call."""
    caller = CALLER.get()
    if caller is None:  # a servicer reached without the interceptor: refuse rather than guess
        raise LookupError("no authenticated caller for this call (is the access interceptor installed?)")
    return caller
