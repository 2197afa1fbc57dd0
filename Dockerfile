# cxpulse: one image for every role (`cxpulse migrate`, `cxpulse run`, `cxpulse api`, ...).
# Build from the repository root:  docker build -t cxpulse:0.1.0 .
# (infra/docker-compose.yml builds it for you.)
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged uid/gid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 cxpulse \
    && useradd --system --uid 10001 --gid cxpulse --create-home --home-dir /home/cxpulse \
        --shell /usr/sbin/nologin cxpulse

WORKDIR /app

# Dependencies first, in their own layer: the exact pins of pyproject.toml's
# [project].dependencies, so a source change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then cxpulse itself (only what the wheel needs).
COPY README.md setup.py ./
COPY schemas ./schemas
COPY flows ./flows
COPY sinks ./sinks
COPY api ./api
COPY infra ./infra
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && mkdir -p /data \
    && chown cxpulse:cxpulse /data

# Runtime data (Bytewax recovery store) lives here; mount a volume on it for `cxpulse run`.
ENV CXPULSE_DATA_DIR=/data

USER cxpulse
EXPOSE 8000
ENTRYPOINT ["cxpulse"]
CMD ["--help"]
