# The earlyhelp image (docker-compose.yml builds it): the worker by default; the web app and
# codec server run from it with their own commands.
FROM python:3.11.10-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY starter starter
COPY web web
# Bytecode compiled at build (pip does; said here so no base image's PYTHONDONTWRITEBYTECODE undoes it): the
# sandbox loads workflows/ afresh for each case it replays.
# Every package at the version in requirements.lock (make lock), as in development and CI.
RUN pip install --no-cache-dir --compile -c requirements.lock . && useradd --system --uid 10001 earlyhelp
USER earlyhelp
EXPOSE 9464 8000
CMD ["python", "-m", "worker"]
