# The earlyhelp image (docker-compose.yml builds it): the worker by default; the web app and
# codec server run from it with their own commands.
FROM python:3.11.10-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY starter starter
COPY web web
RUN pip install --no-cache-dir . && useradd --system --uid 10001 earlyhelp
USER earlyhelp
EXPOSE 9464 8000
CMD ["python", "-m", "worker"]
