"""API keys: kept only as SHA-256 digests, matched in constant time, each with scopes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

SCOPES = frozenset({"process", "admin"})


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    digest: bytes
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _scopes(text: str, where: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.replace("+", ",").split(",") if s.strip()) or frozenset({"process"})
    unknown = scopes - SCOPES
    if unknown:
        raise ValueError(f"{where}: unknown scope(s) {sorted(unknown)}; known: {sorted(SCOPES)}")
    return scopes


def parse_env_keys(entries: list[str]) -> list[ApiKey]:
    """`secret` or `secret:scope+scope` (scopes default to process); named key-1, key-2, ..."""
    keys = []
    for index, entry in enumerate(entries, 1):
        secret, _, scopes = entry.partition(":")
        if not secret:
            raise ValueError(f"AITEXT_API_KEYS entry {index} has no key")
        keys.append(ApiKey(f"key-{index}", digest(secret), _scopes(scopes, f"AITEXT_API_KEYS entry {index}")))
    return keys


def parse_key_file(path: Path) -> list[ApiKey]:
    """Lines of `name sha256:<hex digest of the key> scope,scope`; `#` starts a comment."""
    keys = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{path}:{number}"
        if len(parts) not in (2, 3) or not parts[1].startswith("sha256:"):
            raise ValueError(f"{where}: expected `name sha256:<hex> [scopes]`")
        try:
            key_digest = bytes.fromhex(parts[1].removeprefix("sha256:"))
        except ValueError:
            raise ValueError(f"{where}: the digest is not hex") from None
        if len(key_digest) != 32:
            raise ValueError(f"{where}: a SHA-256 digest has 64 hex digits")
        keys.append(ApiKey(parts[0], key_digest, _scopes(parts[2] if len(parts) == 3 else "", where)))
    return keys


class KeyStore:
    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = tuple(keys)

    def __len__(self) -> int:
        return len(self._keys)

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
