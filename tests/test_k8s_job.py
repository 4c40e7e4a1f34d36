"""scripts/k8s-job.yaml is a valid Kubernetes Job (offline, against the API's own schema) and fits the image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.config import MeetingSettings

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "scripts" / "k8s-job.yaml"


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(JOB.read_text(encoding="utf-8"))
    return doc


@pytest.mark.parametrize("version", ["1.29.0", kubernetes_validate.latest_version()])
def test_the_job_is_valid_kubernetes(job: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(job, version, strict=True)  # raises ValidationError with the path at fault


def test_a_misspelt_field_is_caught(job: dict[str, Any]) -> None:
    bad = {**job, "spec": {**job["spec"], "backofLimit": 0}}
    with pytest.raises(kubernetes_validate.ValidationError, match="backofLimit"):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)


def test_the_job_fits_the_image_and_the_bot(job: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pod = job["spec"]["template"]["spec"]
    bot = pod["containers"][0]
    uid = int(re.search(r"useradd .*--uid (\d+)", dockerfile).group(1))  # type: ignore[union-attr]
    assert pod["securityContext"]["runAsUser"] == uid == pod["securityContext"]["fsGroup"]
    port = re.search(r"BOT_BRIDGE__PORT=(\d+)", dockerfile).group(1)  # type: ignore[union-attr]
    assert f"127.0.0.1:{port}/healthz" in " ".join(bot["livenessProbe"]["exec"]["command"])
    # The pod is given time to leave the meeting and write its files after SIGTERM, and the meeting its length.
    defaults = MeetingSettings()
    assert pod["terminationGracePeriodSeconds"] > defaults.shutdown_grace_s
    assert job["spec"]["activeDeadlineSeconds"] > defaults.max_duration_s
    assert job["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    assert "limits" in bot["resources"] and "cpu" not in bot["resources"]["limits"]
    assert {m["mountPath"] for m in bot["volumeMounts"]} == {"/out", "/dev/shm"}
