# syntax=docker/dockerfile:1
# aitext Streamlit UI: `docker build -f deploy/frontend.Dockerfile .` from the repo root.

# The UI imports the aitext package (generated stubs), so it installs the same wheel.
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
RUN pip install "$(ls /wheels/*.whl)[ui]" && rm -rf /wheels \
    && useradd --system --uid 10001 --create-home --home-dir /home/aitext --shell /usr/sbin/nologin aitext
WORKDIR /app
COPY frontend frontend
USER aitext
EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=3)"]
CMD ["streamlit", "run", "frontend/app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
