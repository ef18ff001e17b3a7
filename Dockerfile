# One image for every aims process: `aims api`, `aims worker`, `aims migrate`.
FROM python:3.11.14-slim
WORKDIR /app
# WeasyPrint renders the PDFs (evidence packs, reports) with Pango and needs a font.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md requirements-pip.lock requirements.lock ./
# Dependencies exactly as locked (hashes checked; the locked pip first, which keeps to the pins
# of a dependency's extras), then aims without resolving anything more.
RUN pip install --no-cache-dir --require-hashes -r requirements-pip.lock \
    && pip install --no-cache-dir --require-hashes -r requirements.lock
COPY aims ./aims
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY notifications ./notifications
RUN pip install --no-cache-dir --no-deps .
USER nobody
EXPOSE 8000
CMD ["aims", "api", "--host", "0.0.0.0", "--port", "8000"]
