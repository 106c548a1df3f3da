"""API keys: kept only as SHA-256 digests, matched in constant time, each with scopes and a tenant."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aitext.security.tenants import SCOPES, allows, check_tenant_name, derived_tenant


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    digest: bytes
    scopes: frozenset[str]
    tenant: str  # configured, or derived from the digest when the key names none

    def allows(self, scope: str) -> bool:
        return allows(self.scopes, scope)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _scopes_and_tenant(text: str, key_digest: bytes, where: str) -> tuple[frozenset[str], str]:
    """`scope+scope@tenant`, either part optional: scopes default to process, the tenant to the key's own."""
    scope_text, at, tenant = text.partition("@")
    scopes = frozenset(s.strip() for s in scope_text.replace("+", ",").split(",") if s.strip()) or frozenset(
        {"process"}
    )
    unknown = scopes - set(SCOPES)
    if unknown:
        raise ValueError(f"{where}: unknown scope(s) {sorted(unknown)}; known: {list(SCOPES)}")
    if at:
        return scopes, check_tenant_name(tenant.strip(), where)
    return scopes, derived_tenant(key_digest)


def parse_env_keys(entries: list[str]) -> list[ApiKey]:
    """`secret`, `secret:scope+scope`, `secret:scope+scope@tenant` or `secret:@tenant`; named key-1, key-2, ...

    The tenant comes after the colon only, so a secret that contains `@` keeps its old meaning.
    """
    keys = []
    for index, entry in enumerate(entries, 1):
        secret, _, rest = entry.partition(":")
        if not secret:
            raise ValueError(f"AITEXT_API_KEYS entry {index} has no key")
        key_digest = digest(secret)
        scopes, tenant = _scopes_and_tenant(rest, key_digest, f"AITEXT_API_KEYS entry {index}")
        keys.append(ApiKey(f"key-{index}", key_digest, scopes, tenant))
    return keys


def parse_key_file(path: Path) -> list[ApiKey]:
    """Lines of `name sha256:<hex digest of the key> [scope,scope][@tenant]`; `#` starts a comment."""
    keys = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{path}:{number}"
        if len(parts) not in (2, 3) or not parts[1].startswith("sha256:"):
            raise ValueError(f"{where}: expected `name sha256:<hex> [scopes][@tenant]`")
        try:
            key_digest = bytes.fromhex(parts[1].removeprefix("sha256:"))
        except ValueError:
            raise ValueError(f"{where}: the digest is not hex") from None
        if len(key_digest) != 32:
            raise ValueError(f"{where}: a SHA-256 digest has 64 hex digits")
        scopes, tenant = _scopes_and_tenant(parts[2] if len(parts) == 3 else "", key_digest, where)
        keys.append(ApiKey(parts[0], key_digest, scopes, tenant))
    return keys


class KeyStore:
    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = tuple(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[ApiKey]:
        return iter(self._keys)

    def authenticate(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        candidate = digest(presented)
        match = None
        for key in self._keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(key.digest, candidate):
                match = key
        return match


def presented_key(metadata: dict[str, str]) -> str | None:
    """The key from `authorization: Bearer <key>` or `x-api-key: <key>`."""
    authorization = metadata.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return metadata.get("x-api-key") or None
