"""Service configuration: every setting is an AITEXT_* environment variable."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AITEXT_", env_file=None, extra="ignore")

    # --- server ---
    host: str = Field("[::]", description="Address the gRPC server binds.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 picks a free one).")
    workers: int = Field(1, ge=1, le=64, description="Server processes sharing the port (SO_REUSEPORT).")
    max_message_bytes: int = Field(
        64 * MiB, ge=MiB, description="Largest gRPC message accepted or sent; larger ones get RESOURCE_EXHAUSTED."
    )
    grace_seconds: float = Field(10.0, ge=0, description="On SIGTERM, how long in-flight calls may finish.")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics port (0 disables it).")

    # --- requests ---
    max_text_bytes: int = Field(16 * MiB, ge=1, description="Largest text, in UTF-8 bytes.")
    max_question_chars: int = Field(2000, ge=1, description="Longest qa question, in characters.")
    max_batch_items: int = Field(100, ge=1, description="Most requests in one ProcessBatch.")
    batch_concurrency: int = Field(8, ge=1, description="Items of one batch processed at once.")

    # --- model ---
    model: str = Field("local", description="pydantic-ai model string, or `local` for the offline model.")
    provider_timeout_seconds: float = Field(60.0, gt=0, description="Deadline of one provider call.")
    provider_retries: int = Field(3, ge=0, description="Retries of a transient provider error.")

    # --- cache ---
    redis_url: str | None = Field(None, description="Redis URL; unset means memory tier only.")
    redis_cluster_nodes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="host:port,host:port of a Redis Cluster (instead of redis_url)."
    )
    cache_namespace: str = Field("ai_cache", description="Prefix of every cache key.")
    key_backend: Literal["auto", "rust", "python"] = Field(
        "auto", description="Cache-key implementation; auto prefers the Rust extension."
    )

    @field_validator("redis_cluster_nodes", mode="before")
    @classmethod
    def _split_nodes(cls, value: object) -> object:
        if isinstance(value, str):
            return [node.strip() for node in value.split(",") if node.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
