"""The Kubernetes objects of one bot: its Job (from the same template as scripts/k8s-job.yaml) and its Secret.

Every bot's files go to ``/out/<bot id>/`` on the PVC ``serve.kubernetes.claim``, mounted at ``/out``; a server
running in the cluster mounts the same claim at ``<serve.data_dir>/bots`` and so reads ``data_dir/bots/<id>/``.
The meeting password, and a meeting URL carrying a credential (a query such as ``?jwt=``, a fragment or a
user:password), never appear in the Job: they go to a Secret named like the Job, which the container reads
through ``secretKeyRef`` (the URL reaches the ``join`` argument by the kubelet's ``$(VAR)`` expansion). A URL
without those carries no credential and is the ``join`` argument itself: whoever may read the namespace's Jobs
or pods, or the node's process list, sees the room's name.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.config import ServeSettings
from bot.serve.launcher import (
    IMAGE_OUT,
    LABEL_APP,
    LABEL_APP_VALUE,
    LABEL_BOT,
    LABEL_SERVER,
    UNIT_PREFIX,
    LaunchError,
    server_id,
)
from bot.serve.model import PASSWORD_ENV, LaunchSpec

CONTAINER = "bot"  # the template's container that runs the bot (else its first)
URL_ENV = "NOTETAKER_MEETING_URL"  # not BOT_*: only the kubelet reads it, to expand $(URL_ENV) in the args
SECRET_KEYS = {PASSWORD_ENV: "meeting-password", URL_ENV: "meeting-url"}
# The Job outlives the meeting cap by the time the bot takes to transcribe what is left and deliver (as in the
# example: 4 h of meeting, 5 h of deadline).
DEADLINE_MARGIN_S = 3600
# Set on a Job created suspended until its Secret exists, removed when it is resumed: a Job suspended with it
# is a launch cut short; one suspended without it is someone else's doing (a queueing controller such as Kueue).
LAUNCHING = "jitsi-notetaker/launching"

_BOT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?")


def job_name(bot_id: str) -> str:
    """The Job's (and its Secret's) name: ``notetaker-<id>``, DNS-1123 safe, at most 63 characters.

    An id that is not already a DNS label is lower-cased and cleaned, with a hash of the id appended so that
    two ids never share a name.
    """
    clean = re.sub(r"[^a-z0-9-]+", "-", bot_id.lower()).strip("-")
    if clean == bot_id and len(UNIT_PREFIX + clean) <= 63:
        return UNIT_PREFIX + clean
    digest = hashlib.sha256(bot_id.encode()).hexdigest()[:10]
    return f"{UNIT_PREFIX}{clean[: 63 - len(UNIT_PREFIX) - 11]}-{digest}".replace("--", "-")


def bot_label(bot_id: str) -> str:
    """The value of ``LABEL_BOT``: the id itself when it is a valid label value, else a hash of it."""
    if _LABEL_VALUE.fullmatch(bot_id):
        return bot_id
    return "h-" + hashlib.sha256(bot_id.encode()).hexdigest()[:40]


def secret_url(url: str) -> bool:
    """Whether a meeting URL carries a credential (query, fragment, user info) and must go through a Secret."""
    parts = urlsplit(url)
    return bool(parts.query or parts.fragment or "@" in parts.netloc)


def load_template(settings: ServeSettings) -> dict[str, Any]:
    """The Job template: ``serve.kubernetes.template`` or the one packaged with the bot.

    Raises:
        LaunchError: the file cannot be read or is not a Job.
    """
    path = settings.kubernetes.template
    try:
        if path is None:
            text = files("bot.serve").joinpath("k8s-job.yaml").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise LaunchError(f"cannot read the Job template {path or 'k8s-job.yaml'}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "Job" or not str(doc.get("apiVersion", "")).startswith(
            "batch/"):
        raise LaunchError(f"the Job template {path} is not a batch Job")
    return doc


def _escape(arg: str) -> str:
    # The kubelet expands $(NAME) in args from the container's environment; $$ stands for a literal $. Without
    # this, a bot name "$(BOT_MEETING__PASSWORD)" would put the password on screen in the meeting.
    return arg.replace("$", "$$")


def _bot_container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = pod.get("containers") or []
    if not containers:
        raise LaunchError("the Job template has no container")
    named = [c for c in containers if c.get("name") == CONTAINER]
    return dict(named[0] if named else containers[0])


def _use_claim(pod: dict[str, Any], container: dict[str, Any], claim: str) -> None:
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == IMAGE_OUT]
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    volume = volumes.get(mounts[0].get("name")) if mounts else None
    if volume is None or "persistentVolumeClaim" not in volume:
        raise LaunchError(f"the Job template must mount a persistentVolumeClaim at {IMAGE_OUT} in its bot container")
    volume["persistentVolumeClaim"] = {**volume["persistentVolumeClaim"], "claimName": claim}


def job_manifest(spec: LaunchSpec, settings: ServeSettings) -> dict[str, Any]:
    """The Job that runs ``jitsi-bot join`` for ``spec``, from the template, ready for ``create``.

    Raises:
        LaunchError: the template is unusable, or the bot id cannot name a folder.
    """
    if not _BOT_ID.fullmatch(spec.bot_id):
        raise LaunchError(f"bot id {spec.bot_id!r} cannot name a folder on the volume")
    job = copy.deepcopy(load_template(settings))
    name = job_name(spec.bot_id)
    ours = {LABEL_APP: LABEL_APP_VALUE, LABEL_BOT: bot_label(spec.bot_id), LABEL_SERVER: server_id(settings)}

    meta = job.setdefault("metadata", {})
    meta.pop("generateName", None)
    meta.pop("namespace", None)  # the launcher's namespace decides
    meta["name"] = name
    meta["labels"] = {**(meta.get("labels") or {}), **spec.labels, **ours}
    meta["annotations"] = {**(meta.get("annotations") or {}), LABEL_BOT: spec.bot_id}

    jspec = job.setdefault("spec", {})
    jspec.pop("suspend", None)
    if spec.max_duration_s is not None:
        jspec["activeDeadlineSeconds"] = math.ceil(spec.max_duration_s) + DEADLINE_MARGIN_S
    template = jspec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), **spec.labels, **ours}
    pod = template.setdefault("spec", {})
    pod["terminationGracePeriodSeconds"] = max(int(pod.get("terminationGracePeriodSeconds") or 0),
                                               math.ceil(settings.stop_grace_s))

    container = _bot_container(pod)
    pod["containers"] = [container if (c.get("name") == container.get("name")) else c for c in pod["containers"]]
    _use_claim(pod, container, settings.kubernetes.claim)
    container["image"] = settings.image  # its entrypoint (or the template's command) runs jitsi-bot

    hidden_url = secret_url(spec.meeting_url)
    reference = f"$({URL_ENV})"
    args = spec.join_args(f"{IMAGE_OUT}/{spec.bot_id}", url=reference if hidden_url else None)
    container["args"] = [a if hidden_url and i == 1 else _escape(a) for i, a in enumerate(args)]

    added: list[dict[str, Any]] = []
    for var, value in spec.join_env().items():
        if var in SECRET_KEYS:
            added.append(_from_secret(var, name))
        else:
            added.append({"name": var, "value": _escape(value)})
    if hidden_url:
        added.append(_from_secret(URL_ENV, name))
    replaced = {e["name"] for e in added}
    container["env"] = [e for e in container.get("env") or [] if e.get("name") not in replaced] + added
    return job


def _from_secret(var: str, secret: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEYS[var]}}}


def secret_manifest(spec: LaunchSpec) -> dict[str, Any] | None:
    """The Secret the Job reads the password and a credential-bearing URL from; None when there is neither.

    The launcher adds an ``ownerReference`` to the Job so that the Secret is deleted with it.
    """
    data: dict[str, str] = {}
    if spec.password is not None:
        data[SECRET_KEYS[PASSWORD_ENV]] = spec.password.get_secret_value()
    if secret_url(spec.meeting_url):
        data[SECRET_KEYS[URL_ENV]] = spec.meeting_url
    if not data:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": job_name(spec.bot_id),
                     "labels": {LABEL_APP: LABEL_APP_VALUE, LABEL_BOT: bot_label(spec.bot_id)}},
        "stringData": data,
    }
