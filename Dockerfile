# The earlyhelp worker image (docker-compose.yml builds it).
FROM python:3.11.10-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY starter starter
RUN pip install --no-cache-dir . && useradd --system --uid 10001 earlyhelp
USER earlyhelp
EXPOSE 9464
CMD ["python", "-m", "worker"]
