# Two-stage build: install from the lock into a venv, then copy it into a slim non-root runtime image.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install uv==0.13.9
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
RUN uv venv /opt/envbot && uv pip sync --python /opt/envbot/bin/python requirements.lock
COPY bot ./bot
COPY handlers ./handlers
COPY provisioning ./provisioning
COPY migrations ./migrations
RUN uv pip install --python /opt/envbot/bin/python --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home envbot
COPY --from=build /opt/envbot /opt/envbot
COPY examples/policy.yaml /etc/envbot/policy.yaml
ENV PATH=/opt/envbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ENVBOT_POLICY_FILE=/etc/envbot/policy.yaml \
    ENVBOT_LOG_JSON=true
USER 10001
WORKDIR /app
EXPOSE 3000
ENTRYPOINT ["envbot"]
CMD ["serve"]
