# One image for every CSMS service (compose.yaml picks the command).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY csms csms
COPY schemas schemas
COPY ocpp_edge ocpp_edge
COPY processors processors
COPY read_api read_api
COPY topics.yaml ./
RUN uv sync --frozen --no-dev
USER nobody
