FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY starter starter
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "-m", "worker"]
