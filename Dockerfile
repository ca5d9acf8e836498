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
COPY src ./src
# The API's OpenAPI document: the web app's typed client is generated from it.
RUN PYTHONPATH=src /opt/venv/bin/python -m entrypoints.cli.main openapi --output /build/openapi.json

# The web app: built here with Node.js; the running image serves the files and has no Node.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
COPY --from=build /build/openapi.json /var/openapi.json
RUN npx openapi-typescript /var/openapi.json --output src/api/schema.d.ts && npm run build

FROM python:3.11-slim
RUN groupadd --system --gid 10001 tenure \
    && useradd --system --uid 10001 --gid tenure --home-dir /app --shell /usr/sbin/nologin tenure
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root src ./src
COPY --chown=root:root alembic ./alembic
COPY --from=web --chown=root:root /web/dist ./web/dist
RUN mkdir -p /app/var/payout-files /tmp/tenure-metrics && chown -R tenure:tenure /app/var /tmp/tenure-metrics
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TENURE_ENV=production \
    TENURE_HOST=0.0.0.0 \
    TENURE_PAYOUT_EXPORT_DIR=/app/var/payout-files \
    TENURE_WEB_DIR=/app/web/dist \
    PROMETHEUS_MULTIPROC_DIR=/tmp/tenure-metrics
USER tenure
EXPOSE 8000
# The real readiness route: database reachable, migrations at head, clocks agree, job queue reachable.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4).status != 200)"]
ENTRYPOINT ["python", "-m", "entrypoints.cli.main"]
CMD ["serve", "--workers", "2"]
