# syntax=docker/dockerfile:1
# aitext gRPC server: `docker build -f deploy/server.Dockerfile .` from the repo root.

# The wheel: the Python package with the Rust extension (aitext._native) built by maturin.
FROM rust:1-slim-bookworm AS wheel
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/maturin \
    && /opt/maturin/bin/pip install --no-cache-dir "maturin>=1.9,<2"
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust_ext rust_ext
COPY python python
RUN /opt/maturin/bin/maturin build --release --locked --out /wheels

FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=wheel /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin aitext
COPY deploy/grpc_health_probe.py /usr/local/bin/grpc-health-probe
USER aitext
WORKDIR /tmp
# IPv4 wildcard: a container's network may have IPv6 disabled, and then "[::]" cannot bind.
ENV AITEXT_HOST=0.0.0.0 AITEXT_PORT=50051
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s CMD ["grpc-health-probe", "localhost:50051"]
# SIGTERM: health turns NOT_SERVING, in-flight calls get AITEXT_GRACE_SECONDS to finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["aitext", "serve"]
