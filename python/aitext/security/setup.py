"""Builds the access interceptor and TLS credentials from settings."""

from __future__ import annotations

import grpc

from aitext.cache.redis_tier import connect
from aitext.config import ConfigError, Settings
from aitext.security.api_keys import KeyStore, parse_env_keys, parse_key_file
from aitext.security.interceptor import AccessInterceptor
from aitext.security.rate_limit import RateLimiter
from aitext.security.tenants import Tenants


def load_keys(settings: Settings) -> KeyStore:
    try:
        keys = parse_env_keys([key.get_secret_value() for key in settings.api_keys])
        if settings.api_keys_file is not None:
            keys += parse_key_file(settings.api_keys_file)
    except ValueError as exc:  # a bad scope or tenant name: say so, as for any other setting
        raise ConfigError(str(exc)) from None
    return KeyStore(keys)


def build_access(settings: Settings) -> AccessInterceptor:
    keys = load_keys(settings)
    if not len(keys) and not settings.allow_unauthenticated:
        raise ConfigError(
            "no API keys configured: set AITEXT_API_KEYS or AITEXT_API_KEYS_FILE "
            "(or AITEXT_ALLOW_UNAUTHENTICATED=true for local development)"
        )
    redis = connect(settings)
    limiter = RateLimiter(
        settings.rate_limit_per_second,
        settings.rate_limit_burst,
        redis=redis[0] if redis else None,
        namespace=settings.cache_namespace,
    )
    try:
        tenants = Tenants(settings)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return AccessInterceptor(keys, limiter, tenants, allow_unauthenticated=settings.allow_unauthenticated)


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS when a certificate is configured; mTLS when a client CA is configured too."""
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        if settings.tls_client_ca_file is not None:
            raise ConfigError("AITEXT_TLS_CLIENT_CA_FILE needs AITEXT_TLS_CERT_FILE and AITEXT_TLS_KEY_FILE")
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ConfigError("TLS needs both AITEXT_TLS_CERT_FILE and AITEXT_TLS_KEY_FILE")
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )
