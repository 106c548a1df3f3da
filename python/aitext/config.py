"""Service configuration: every setting is an AITEXT_* environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from aitext.operations import OPERATIONS

MiB = 1024 * 1024
# cache_control.ttl_seconds is a uint32; a tenant's cap cannot be larger.
MAX_TTL_SECONDS = 2**32 - 1
TextTier = Literal["small", "medium", "large", "xlarge"]


def ttl_setting(operation: str) -> str:
    """The setting (AITEXT_<NAME>) holding an operation's cache TTL."""
    return f"cache_ttl_{operation}_seconds"


class ConfigError(ValueError):
    """Settings that cannot work together; `aitext serve` prints it and exits."""


class TenantSettings(BaseModel):
    """One tenant's overrides in AITEXT_TENANTS; an unset field takes the deployment's default."""

    model_config = ConfigDict(extra="forbid")

    shared: bool | None = None
    max_ttl_seconds: int | None = Field(None, ge=1, le=MAX_TTL_SECONDS)
    rate_limit_per_second: float | None = Field(None, ge=0)
    rate_limit_burst: int | None = Field(None, ge=1)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting may be a secret (a key, the cache secret); say which, not what.
    model_config = SettingsConfigDict(env_prefix="AITEXT_", env_file=None, extra="ignore", hide_input_in_errors=True)

    # --- server ---
    host: str = Field("[::]", description="Address the gRPC server binds.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 picks a free one).")
    workers: int = Field(1, ge=1, le=64, description="Server processes sharing the port (SO_REUSEPORT).")
    max_message_bytes: int = Field(
        64 * MiB, ge=MiB, description="Largest gRPC message accepted or sent; larger ones get RESOURCE_EXHAUSTED."
    )
    grace_seconds: float = Field(10.0, ge=0, description="On SIGTERM, how long in-flight calls may finish.")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics port (0 disables it).")
    metrics_host: str | None = Field(None, description="Address /metrics binds; unset: the same as AITEXT_HOST.")
    stats_publish_seconds: float = Field(
        2.0,
        gt=0,
        description="How often each worker publishes its cache-stats snapshot for the fleet-wide GetCacheStats; a "
        "snapshot expires after 3 periods, so a dead worker drops out of the totals.",
    )
    stats_dir: str | None = Field(
        None,
        description="Without Redis, the directory the workers of one `aitext serve` share their stats snapshots "
        "through; unset: the supervisor makes one under /dev/shm (or the temp dir) and removes it on exit.",
    )

    max_concurrent_rpcs: int = Field(
        512,
        ge=1,
        description="Calls one worker runs at once, counted from an authenticated call's request message to its "
        "end; more are refused at once with RESOURCE_EXHAUSTED and RetryInfo, not queued.",
    )
    max_health_watches: int = Field(
        16,
        ge=1,
        description="Health/Watch streams one worker keeps open (they need no key); more get RESOURCE_EXHAUSTED.",
    )
    max_streams_per_connection: int = Field(
        1024,
        ge=1,
        description="Concurrent HTTP/2 streams one client connection may open (grpc.max_concurrent_streams); "
        "a client at the limit sees some calls refused (REFUSED_STREAM, so UNAVAILABLE), so keep it well "
        "above any client's concurrency.",
    )
    request_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a call may take, after its headers, to send its whole request message; "
        "then it ends with DEADLINE_EXCEEDED and frees everything it held.",
    )
    offload_processes: int = Field(
        2,
        ge=0,
        description="Processes per worker that run CPU-heavy model work (the local model on long texts) off the "
        "event loop; started on first use; 0 runs that work on the event loop.",
    )
    offload_min_chars: int = Field(
        2000,
        ge=0,
        description="Texts shorter than this are computed on the event loop: a process round trip costs more.",
    )

    # --- security ---
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys, each `key`, `key:scope+scope` or `key:scope+scope@tenant` "
        "(scopes: process, admin, ops; default process; no tenant: the key is a tenant of its own).",
    )
    api_keys_file: Path | None = Field(
        None, description="File of hashed keys, lines `name sha256:<hex of the key> [process,admin][@tenant]`."
    )
    allow_unauthenticated: bool = Field(
        False, description="Development only: with no keys configured, accept calls without a key."
    )
    rate_limit_per_second: float = Field(
        100.0, ge=0, description="Requests a second per API key (token bucket, shared through Redis); 0 disables."
    )
    rate_limit_burst: int = Field(200, ge=1, description="Token-bucket size: requests a key may make at once.")
    tenant_rate_limit_per_second: float = Field(
        0.0,
        ge=0,
        description="Requests a second per tenant, all its keys together (on top of the per-key limit); 0 disables.",
    )
    tenant_rate_limit_burst: int = Field(200, ge=1, description="Token-bucket size of the per-tenant limit.")
    tenant_max_ttl_seconds: int = Field(
        30 * 24 * 3600, ge=1, le=MAX_TTL_SECONDS, description="Largest cache_control.ttl_seconds a tenant may set."
    )
    tenants: dict[str, TenantSettings] = Field(
        default_factory=dict,
        description='Per-tenant overrides, JSON: `{"acme": {"shared": true, "max_ttl_seconds": 3600, '
        '"rate_limit_per_second": 5, "rate_limit_burst": 10}}`.',
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate chain; with tls_key_file the server speaks TLS only."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA bundle; when set, clients must present a certificate it signed (mTLS)."
    )

    # --- requests ---
    max_text_bytes: int = Field(16 * MiB, ge=1, description="Largest text, in UTF-8 bytes.")
    max_question_chars: int = Field(2000, ge=1, description="Longest qa question, in characters.")
    max_batch_items: int = Field(100, ge=1, description="Most requests in one ProcessBatch.")
    batch_concurrency: int = Field(8, ge=1, description="Items of one batch processed at once.")

    # --- model ---
    model: str = Field("local", description="pydantic-ai model string, or `local` for the offline model.")
    provider_timeout_seconds: float = Field(60.0, gt=0, description="Deadline of one provider call.")
    provider_retries: int = Field(3, ge=0, description="Retries of a transient provider error.")
    openai_base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint (Ollama: http://localhost:11434/v1); with it, `openai:<name>` "
        "models speak Chat Completions to that server.",
    )
    openai_api_key: SecretStr | None = Field(
        None, description="API key for openai_base_url; unset falls back to OPENAI_API_KEY, then a placeholder."
    )
    model_max_input_bytes: int | None = Field(
        None,
        ge=1,
        description="The model's input budget: UTF-8 bytes of prompt (instructions included) per call; a longer "
        "text is processed in chunks (map-reduce). Unset: a default per provider family (README), none for local.",
    )
    map_concurrency: int = Field(4, ge=1, le=256, description="Chunks of one long text processed at once.")
    provider_backoff_initial_seconds: float = Field(0.5, gt=0, description="First retry delay (doubles, jittered).")
    provider_backoff_max_seconds: float = Field(8.0, gt=0, description="Longest delay between retries.")
    breaker_failure_threshold: int = Field(
        5, ge=1, description="Consecutive transient provider failures that open the circuit breaker."
    )
    breaker_reset_seconds: float = Field(
        30.0, gt=0, description="How long an open breaker fails fast before one half-open probe is let through."
    )

    # --- cache ---
    redis_url: str | None = Field(None, description="Redis URL; unset means memory tier only.")
    redis_cluster_nodes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="host:port,host:port of a Redis Cluster (instead of redis_url)."
    )
    cache_namespace: str = Field("ai_cache", description="Prefix of every cache key.")
    cache_secret: SecretStr | None = Field(
        None,
        description="Secret of the MAC that binds each Redis entry to its key; every worker and replica needs the same "
        "one. Unset: entries are checked but not bound against writers to Redis (a warning at start-up).",
    )
    cache_shared: bool = Field(
        False, description="Every tenant reads and writes one shared cache pool (default: a partition per tenant)."
    )
    key_backend: Literal["auto", "rust", "python"] = Field(
        "auto", description="Cache-key implementation; auto prefers the Rust extension."
    )
    cache_memory_max_bytes: int = Field(
        256 * MiB, ge=0, description="Byte budget of the in-process (L1) cache; 0 disables it."
    )
    cache_memory_max_item_bytes: int = Field(
        MiB, ge=0, description="Largest single L1 entry; a bigger answer is kept in Redis only."
    )
    cache_memory_tiers: Annotated[list[TextTier], NoDecode] = Field(
        default_factory=lambda: list(get_args(TextTier)),
        description="Text-size tiers whose answers L1 admits (comma-separated; empty: Redis only).",
    )
    cache_tier_small_chars: int = Field(500, ge=1, description="Texts shorter than this are in the small tier.")
    cache_tier_medium_chars: int = Field(5000, ge=1, description="Texts shorter than this (and not small) are medium.")
    cache_tier_large_chars: int = Field(
        50000, ge=1, description="Texts shorter than this (and not medium) are large; longer ones xlarge."
    )
    # One cache_ttl_<operation>_seconds setting (AITEXT_CACHE_TTL_<NAME>_SECONDS) per row of the operations
    # table, defaulting to the row's TTL: written into the class namespace, which pydantic reads its fields
    # from, as if each were spelled out here (so they keep this place in the README's table).
    __annotations__.update({ttl_setting(op.name): int for op in OPERATIONS})
    locals().update(
        {
            ttl_setting(op.name): Field(op.default_ttl_seconds, ge=1, description=f"TTL of cached {op.name} answers.")
            for op in OPERATIONS
        }
    )
    cache_compress_min_bytes: int = Field(
        1024, ge=0, description="Stored answers larger than this are lz4-compressed when that makes them smaller."
    )
    cache_lease_seconds: float = Field(
        10.0,
        gt=0,
        description="Expiry of the Redis lease a worker takes while it computes a missed answer (renewed meanwhile); "
        "others wait for its answer, and take over this long after it dies.",
    )
    redis_connect_timeout_seconds: float = Field(0.5, gt=0, description="Timeout of connecting to Redis.")
    redis_timeout_seconds: float = Field(
        0.5, gt=0, description="Timeout of one Redis command; a slower Redis counts as down."
    )
    redis_backoff_initial_seconds: float = Field(
        0.1, gt=0, description="First delay before reconnecting to a Redis that went down."
    )
    redis_backoff_max_seconds: float = Field(
        2.0, gt=0, description="Longest delay between reconnection attempts (exponential with jitter)."
    )
    redis_probe_interval_seconds: float = Field(
        0.5, gt=0, description="How often each worker PINGs Redis, traffic or not, so cache health stays current."
    )
    redis_recovery_probes: int = Field(
        3,
        ge=1,
        description="Consecutive answered PINGs before a Redis that was down is used and reported SERVING again.",
    )

    def ttl_seconds(self, operation: str) -> int:
        """The configured cache TTL of an operation's answers."""
        ttl: int = getattr(self, ttl_setting(operation))
        return ttl

    @field_validator("cache_memory_tiers", mode="before")
    @classmethod
    def _split_tiers(cls, value: object) -> object:
        if isinstance(value, str):
            return [tier.strip() for tier in value.split(",") if tier.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("cache_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # A short secret could be guessed offline from any entry read out of Redis.
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(
                "must be at least 16 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_url_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("redis_cluster_nodes", mode="before")
    @classmethod
    def _split_nodes(cls, value: object) -> object:
        if isinstance(value, str):
            return [node.strip() for node in value.split(",") if node.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_table() -> str:
    """The README's configuration table, from the fields themselves."""
    rows = ["| Variable | Default | Description |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        rows.append(f"| `AITEXT_{name.upper()}` | `{shown}` | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
