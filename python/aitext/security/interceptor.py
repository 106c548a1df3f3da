"""One server interceptor: authenticate, check the method's scope, take rate-limit tokens, name the caller.

It runs on the call's headers, before the admission interceptor (aitext.admission) and before
any request message is read: a call it refuses ends at once and never holds a slot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from aitext.errors import RequestError
from aitext.security.api_keys import KeyStore, presented_key
from aitext.security.rate_limit import RateLimiter
from aitext.security.tenants import ANONYMOUS, CALLER, SCOPES, Caller, Tenants

# Health and reflection stay open: load balancers and grpcurl need them without a key.
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
ADMIN_METHODS = frozenset({"/aitext.v1.TextService/InvalidateCache"})


def _refusal(error: RequestError) -> grpc.RpcMethodHandler:
    """A handler that ends the call with `error` at once, without waiting for (or reading) its request.

    Served as a stream whatever the method's shape: grpc.aio would read a unary request first,
    so a caller without a key could hold the call open by never sending one.
    """

    async def refuse(_requests: Any, context: grpc.aio.ServicerContext) -> None:
        await error.abort(context)

    return grpc.stream_stream_rpc_method_handler(refuse)


class AccessInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped here (no types-grpcio)
    def __init__(self, keys: KeyStore, limiter: RateLimiter, tenants: Tenants, *, allow_unauthenticated: bool) -> None:
        self._keys = keys
        self._limiter = limiter
        self._anonymous_ok = allow_unauthenticated and not len(keys)
        # One Caller per key, made once: the request path only looks it up.
        self._callers = {key.digest: Caller(key.name, tenants.get(key.tenant), key.scopes) for key in keys}
        # Development mode (no keys at all): one tenant, every scope.
        self._anonymous = Caller(ANONYMOUS, tenants.get(ANONYMOUS), frozenset(SCOPES))

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        if details.method.startswith(OPEN_PREFIXES):
            return await continuation(details)
        error = await self._check(details)
        handler = await continuation(details)
        if error is None or handler is None:
            return handler
        return _refusal(error)

    async def _check(self, details: grpc.HandlerCallDetails) -> RequestError | None:
        if self._anonymous_ok:
            caller = self._anonymous
        else:
            metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
            key = self._keys.authenticate(presented_key(metadata))
            if key is None:
                return RequestError(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "a valid API key is required (authorization: Bearer <key> or x-api-key)",
                )
            scope = "admin" if details.method in ADMIN_METHODS else "process"
            if not key.allows(scope):
                return RequestError(grpc.StatusCode.PERMISSION_DENIED, f"this API key lacks the {scope} scope")
            caller = self._callers[key.digest]
        decision = await self._limiter.acquire(f"key:{caller.key_name}")
        tenant = caller.tenant
        if decision.allowed and tenant.rate_limit_per_second > 0:
            decision = await self._limiter.acquire(
                f"tenant:{tenant.name}", tenant.rate_limit_per_second, tenant.rate_limit_burst
            )
            what = "the tenant's rate limit"
        else:
            what = "rate limit"
        if not decision.allowed:
            return RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{what} exceeded; retry in {decision.retry_after_seconds:.2f} s",
                retry_after_seconds=decision.retry_after_seconds,
            )
        # grpc.aio awaits interceptors and then runs the handler in the same task: the handler sees this.
        CALLER.set(caller)
        return None
