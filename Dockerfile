# One image for every aims process: `aims api`, `aims worker`, `aims migrate`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY aims ./aims
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY notifications ./notifications
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8000
CMD ["aims", "api", "--host", "0.0.0.0", "--port", "8000"]
