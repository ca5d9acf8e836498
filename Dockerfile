# Tenure's API and worker image: one image, two commands (`tenure serve`, `tenure worker`).
#   docker build -t tenure .
# Small: a slim base, only the locked runtime dependencies (no dev tools, no compilers), bytecode compiled at build.
# Safe: runs as an unprivileged user; no secrets are baked in (settings come from the environment at run time).

FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /build
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

FROM python:3.11-slim
RUN groupadd --system --gid 10001 tenure \
    && useradd --system --uid 10001 --gid tenure --home-dir /app --shell /usr/sbin/nologin tenure
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root src ./src
COPY --chown=root:root alembic ./alembic
RUN mkdir -p /app/var/payout-files /tmp/tenure-metrics && chown -R tenure:tenure /app/var /tmp/tenure-metrics
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TENURE_ENV=production \
    TENURE_HOST=0.0.0.0 \
    TENURE_PAYOUT_EXPORT_DIR=/app/var/payout-files \
    PROMETHEUS_MULTIPROC_DIR=/tmp/tenure-metrics
USER tenure
EXPOSE 8000
# The real readiness route: database reachable, migrations at head, clocks agree, job queue reachable.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4).status != 200)"]
ENTRYPOINT ["python", "-m", "entrypoints.cli.main"]
CMD ["serve", "--workers", "2"]
