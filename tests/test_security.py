"""API keys and scopes, per-key rate limits, TLS and mTLS — against real servers."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

pytestmark = pytest.mark.integration

PROCESS_KEY = "process-key-7f3a"
ADMIN_KEY = "admin-key-c41d"
KEYS = f"{PROCESS_KEY}:process,{ADMIN_KEY}:process+admin"
TEXT = "The committee approved the new bridge. Construction starts in May and ends next year."

EVERY_RPC = {
    "Process": lambda stub, md: stub.Process(
        pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT), metadata=md
    ),
    "ProcessBatch": lambda stub, md: _drain(
        stub.ProcessBatch(
            pb.ProcessBatchRequest(requests=[pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT)]),
            metadata=md,
        )
    ),
    "ListOperations": lambda stub, md: stub.ListOperations(pb.ListOperationsRequest(), metadata=md),
    "GetCacheStats": lambda stub, md: stub.GetCacheStats(pb.GetCacheStatsRequest(), metadata=md),
    "InvalidateCache": lambda stub, md: stub.InvalidateCache(pb.InvalidateCacheRequest(all=True), metadata=md),
}


async def _drain(call) -> list:
    return [item async for item in call]


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def code_of(awaitable) -> grpc.StatusCode:
    try:
        await awaitable
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.fixture
async def secured(start_server):
    server = await start_server(
        api_keys=KEYS, allow_unauthenticated=False, rate_limit_per_second=1000, rate_limit_burst=1000
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.mark.parametrize("rpc", sorted(EVERY_RPC))
@pytest.mark.parametrize(
    "metadata", [(), bearer("wrong-key"), (("x-api-key", "wrong-key"),), (("authorization", "Basic abc"),)]
)
async def test_missing_or_wrong_key_is_unauthenticated(secured, rpc, metadata):
    stub = pb_grpc.TextServiceStub(secured)
    assert await code_of(EVERY_RPC[rpc](stub, metadata)) == grpc.StatusCode.UNAUTHENTICATED


async def test_health_and_reflection_stay_open(secured):
    reply = await health_pb2_grpc.HealthStub(secured).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_scopes(secured):
    stub = pb_grpc.TextServiceStub(secured)
    for rpc in ("Process", "ProcessBatch", "ListOperations", "GetCacheStats"):
        assert await code_of(EVERY_RPC[rpc](stub, bearer(PROCESS_KEY))) == grpc.StatusCode.OK, rpc
    assert await code_of(EVERY_RPC["InvalidateCache"](stub, bearer(PROCESS_KEY))) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(EVERY_RPC["InvalidateCache"](stub, bearer(ADMIN_KEY))) == grpc.StatusCode.OK
    assert await code_of(EVERY_RPC["Process"](stub, (("x-api-key", ADMIN_KEY),))) == grpc.StatusCode.OK


async def test_hashed_key_file(start_server, tmp_path):
    secret = "file-key-93bd"
    key_file = tmp_path / "keys"
    key_file.write_text(f"# name digest scopes\nci sha256:{hashlib.sha256(secret.encode()).hexdigest()} process\n")
    server = await start_server(api_keys_file=key_file, allow_unauthenticated=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        assert await code_of(EVERY_RPC["ListOperations"](stub, bearer(secret))) == grpc.StatusCode.OK
        assert await code_of(
            EVERY_RPC["ListOperations"](stub, bearer(hashlib.sha256(secret.encode()).hexdigest()))
        ) == (grpc.StatusCode.UNAUTHENTICATED)


async def test_no_keys_and_no_development_flag_refuses_to_start(start_server):
    from aitext.config import ConfigError

    with pytest.raises(ConfigError, match="AITEXT_API_KEYS"):
        await start_server(api_keys="", allow_unauthenticated=False)


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    for detail in rpc_status.from_call(error).details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToTimedelta().total_seconds()
    raise AssertionError("no RetryInfo in the error details")


async def burst(stub, key: str, count: int) -> list[grpc.aio.AioRpcError | None]:
    outcomes = []
    for _ in range(count):
        try:
            await stub.ListOperations(pb.ListOperationsRequest(), metadata=bearer(key))
            outcomes.append(None)
        except grpc.aio.AioRpcError as error:
            outcomes.append(error)
    return outcomes


async def test_rate_limit_per_key_with_retry_info(start_server, redis_url):
    server = await start_server(
        api_keys=KEYS, allow_unauthenticated=False, rate_limit_per_second=1, rate_limit_burst=5, redis_url=redis_url
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        outcomes = await burst(stub, PROCESS_KEY, 12)
        refused = [e for e in outcomes if e is not None]
        assert outcomes[:5] == [None] * 5
        assert len(refused) >= 6  # at 1/s, at most one token refills during the burst
        assert all(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for e in refused)
        assert 0 < retry_delay(refused[0]) <= 1.0
        # Another key has its own bucket.
        assert await burst(stub, ADMIN_KEY, 5) == [None] * 5


def test_rate_limit_holds_across_two_workers(server_process_factory, redis_url):
    served = server_process_factory(
        workers=2,
        env={
            "AITEXT_API_KEYS": KEYS,
            "AITEXT_ALLOW_UNAUTHENTICATED": "false",
            "AITEXT_RATE_LIMIT_PER_SECOND": "0.5",
            "AITEXT_RATE_LIMIT_BURST": "10",
            "AITEXT_REDIS_URL": redis_url,
        },
    )
    allowed = 0
    for _ in range(30):
        # A new connection per call, so SO_REUSEPORT spreads the calls over both workers.
        with grpc.insecure_channel(served.address) as channel:
            try:
                pb_grpc.TextServiceStub(channel).ListOperations(
                    pb.ListOperationsRequest(), metadata=bearer(PROCESS_KEY), timeout=10
                )
                allowed += 1
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Per-worker buckets would let up to 20 through; the shared one lets the burst of 10 (plus refill).
    assert 10 <= allowed <= 12


def _certificate(subject: str, key, issuer_cert=None, issuer_key=None, *, ca: bool = False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, bytes]:
    """A throwaway CA, a server certificate for localhost and a client certificate, all signed by it."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("aitext test CA", ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": _pem(ca),
        "server_cert": _pem(_certificate("localhost", server_key, ca, ca_key)),
        "server_key": _pem(server_key),
        "client_cert": _pem(_certificate("client", client_key, ca, ca_key)),
        "client_key": _pem(client_key),
    }


def _files(tmp_path: Path, pki: dict[str, bytes]) -> dict[str, Path]:
    paths = {}
    for name, data in pki.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


async def _list(channel) -> grpc.StatusCode:
    return await code_of(pb_grpc.TextServiceStub(channel).ListOperations(pb.ListOperationsRequest(), timeout=5))


async def test_tls_accepts_the_right_ca_and_refuses_plaintext(start_server, tmp_path, pki):
    files = _files(tmp_path, pki)
    server = await start_server(tls_cert_file=files["server_cert"], tls_key_file=files["server_key"])
    target = f"localhost:{server.port}"
    async with grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=pki["ca"])) as channel:
        assert await _list(channel) == grpc.StatusCode.OK
    async with grpc.aio.insecure_channel(target) as channel:
        assert await _list(channel) == grpc.StatusCode.UNAVAILABLE
    other_ca = _pem(_certificate("another CA", ec.generate_private_key(ec.SECP256R1()), ca=True))
    async with grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=other_ca)) as channel:
        assert await _list(channel) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_requires_a_client_certificate(start_server, tmp_path, pki):
    files = _files(tmp_path, pki)
    server = await start_server(
        tls_cert_file=files["server_cert"], tls_key_file=files["server_key"], tls_client_ca_file=files["ca"]
    )
    target = f"localhost:{server.port}"
    with_cert = grpc.ssl_channel_credentials(
        pki["ca"], private_key=pki["client_key"], certificate_chain=pki["client_cert"]
    )
    async with grpc.aio.secure_channel(target, with_cert) as channel:
        assert await _list(channel) == grpc.StatusCode.OK
    async with grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(pki["ca"])) as channel:
        assert await _list(channel) == grpc.StatusCode.UNAVAILABLE
