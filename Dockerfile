# PromptCraft in one image: `promptcraft serve` with everything mounted on one port.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap make npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
# Same set-up as a developer's machine: locked dependencies, sandbox environment.
RUN bash scripts/setup.sh

ENV PROMPTCRAFT_DATA_DIR=/data \
    PROMPTCRAFT_HOST=0.0.0.0
VOLUME /data
EXPOSE 8000
CMD [".venv/bin/promptcraft", "serve"]
