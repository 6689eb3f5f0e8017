# One image for every trustwatch service (the command picks the service). The model is trained at
# build time from the shipped data with a fixed seed, so every build holds the same artifact.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    TRUSTWATCH_ARTIFACTS_DIR=/opt/trustwatch/artifacts \
    TRUSTWATCH_HISTORY_PATH=/var/lib/trustwatch/history.sqlite

WORKDIR /opt/trustwatch/src
# the dependencies as locked, each checked against its hash; then trustwatch itself, alone
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY shared shared
COPY model model
COPY producer producer
COPY scorer scorer
COPY monitors monitors
COPY alerter alerter
COPY trustwatch trustwatch
RUN pip install --no-deps . && rm -rf build *.egg-info requirements.lock

RUN trustwatch train \
    && useradd --system --uid 10001 --home-dir /var/lib/trustwatch trustwatch \
    && mkdir -p /var/lib/trustwatch \
    && chown trustwatch /var/lib/trustwatch

USER trustwatch
WORKDIR /var/lib/trustwatch
ENTRYPOINT ["trustwatch"]
CMD ["--help"]
