"""scripts/k8s-job.yaml, and the Jobs jitsi-bot serve makes from it, are valid Kubernetes (offline, against the
API's own schema) and fit the image; no Job carries a meeting password or a ?jwt= in plain text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from bot.__main__ import build_parser
from bot.config import MeetingSettings, ServeSettings
from bot.serve.k8s_manifest import (
    DEADLINE_MARGIN_S,
    URL_ENV,
    job_manifest,
    job_name,
    load_template,
    secret_manifest,
)
from bot.serve.launcher import LABEL_APP, LABEL_APP_VALUE, LABEL_BOT, LaunchError
from bot.serve.model import LaunchSpec

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


# --- the Jobs jitsi-bot serve makes from it (bot/serve/k8s_manifest.py) ---

PASSWORD = "pw-Zq8!s3cr3t"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiKiJ9.c2lnbmF0dXJl"


def serve_settings(**kubernetes: Any) -> ServeSettings:
    return ServeSettings(image="registry.example.org/notetaker:1.2", stop_grace_s=90,
                         kubernetes={"namespace": "meetings", "claim": "team-out", **kubernetes})


def test_the_packaged_template_is_the_example() -> None:
    # One source: scripts/k8s-job.yaml is the documented example; serve uses its packaged copy.
    packaged = ROOT / "bot" / "serve" / "k8s-job.yaml"
    assert packaged.read_text(encoding="utf-8") == JOB.read_text(encoding="utf-8"), \
        "bot/serve/k8s-job.yaml differs: cp scripts/k8s-job.yaml bot/serve/k8s-job.yaml"
    assert load_template(ServeSettings()) == yaml.safe_load(JOB.read_text(encoding="utf-8"))


SPECS = {
    "plain": LaunchSpec(bot_id="b7f3c2a9d1", meeting_url="https://meet.example.org/TeamSync"),
    "password": LaunchSpec(bot_id="b7f3c2a9d1", meeting_url="https://meet.example.org/TeamSync",
                           bot_name="Notes", email=("a@example.org", "b@example.org"), backend="local",
                           password=SecretStr(PASSWORD), max_duration_s=1800),
    "jwt": LaunchSpec(bot_id="b7f3c2a9d1", meeting_url=f"https://meet.example.org/TeamSync?jwt={JWT}",
                      password=SecretStr(PASSWORD)),
}


@pytest.mark.parametrize("case", SPECS)
def test_the_served_jobs_are_valid_kubernetes(case: str) -> None:
    manifest = job_manifest(SPECS[case], serve_settings())
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    kubernetes_validate.validate(manifest, "1.29.0", strict=True)
    secret = secret_manifest(SPECS[case])
    if case == "plain":
        assert secret is None
    else:
        assert secret is not None
        kubernetes_validate.validate(secret, kubernetes_validate.latest_version(), strict=True)


def test_a_served_job_names_labels_and_runs_the_bot() -> None:
    spec, settings = SPECS["password"], serve_settings()
    job = job_manifest(spec, settings)
    name = job["metadata"]["name"]
    assert name == "notetaker-b7f3c2a9d1" and "generateName" not in job["metadata"]
    ours = {LABEL_APP: LABEL_APP_VALUE, LABEL_BOT: "b7f3c2a9d1"}
    assert ours.items() <= job["metadata"]["labels"].items()
    assert ours.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert job["metadata"]["annotations"][LABEL_BOT] == spec.bot_id
    pod = job["spec"]["template"]["spec"]
    (bot,) = pod["containers"]
    assert bot["image"] == settings.image
    assert bot["args"] == ["join", "https://meet.example.org/TeamSync", "--out", "/out/b7f3c2a9d1", "--name=Notes",
                           "--email=a@example.org", "--email=b@example.org", "--backend=local"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["team-out"]
    assert pod["terminationGracePeriodSeconds"] >= 90
    assert job["spec"]["activeDeadlineSeconds"] == 1800 + DEADLINE_MARGIN_S
    env = {e["name"]: e for e in bot["env"]}
    # the template's own variables stay; the bot's are added
    assert env["BOT_SMTP__PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "notetaker", "key": "smtp-password"}
    assert env["BOT_MEETING__MAX_DURATION_S"] == {"name": "BOT_MEETING__MAX_DURATION_S", "value": "1800.0"}
    assert env["BOT_MEETING__PASSWORD"] == {"name": "BOT_MEETING__PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": name, "key": "meeting-password"}}}
    assert PASSWORD not in json.dumps(job)
    secret = secret_manifest(spec)
    assert secret is not None and secret["metadata"]["name"] == name
    assert secret["stringData"] == {"meeting-password": PASSWORD}
    # without a duration cap the template's deadline stays
    assert job_manifest(SPECS["plain"], settings)["spec"]["activeDeadlineSeconds"] == 18000


def test_a_jwt_url_reaches_the_bot_only_through_the_secret() -> None:
    job = job_manifest(SPECS["jwt"], serve_settings())
    text = json.dumps(job)
    assert JWT not in text and PASSWORD not in text and "jwt=" not in text
    (bot,) = job["spec"]["template"]["spec"]["containers"]
    assert bot["args"][:2] == ["join", f"$({URL_ENV})"]
    env = {e["name"]: e for e in bot["env"]}
    assert env[URL_ENV]["valueFrom"]["secretKeyRef"] == {"name": job["metadata"]["name"], "key": "meeting-url"}
    secret = secret_manifest(SPECS["jwt"])
    assert secret is not None
    assert secret["stringData"] == {"meeting-url": SPECS["jwt"].meeting_url, "meeting-password": PASSWORD}


def test_a_dollar_in_an_argument_is_not_expanded_by_the_kubelet() -> None:
    spec = LaunchSpec(bot_id="b1", meeting_url="https://meet.example.org/Room", bot_name="$(BOT_MEETING__PASSWORD)")
    (bot,) = job_manifest(spec, serve_settings())["spec"]["template"]["spec"]["containers"]
    assert "--name=$$(BOT_MEETING__PASSWORD)" in bot["args"]


@pytest.mark.parametrize("url", ["https://meet.example.org/Room", f"https://meet.example.org/Room?jwt={JWT}"])
def test_the_bots_arguments_parse_back_exactly(url: str) -> None:
    # Values that look like options stay values: argparse would otherwise take "-x" for an option (exit 2).
    spec = LaunchSpec(bot_id="b1", meeting_url=url, bot_name="-x --out=/etc", email=("-e@example.org", "b@example.org"),
                      backend="local")
    for args in (spec.join_args("/out/b1"), spec.join_args("/out/b1", url="-")):
        parsed = build_parser().parse_args(args)
        assert (parsed.command, parsed.out, parsed.name, parsed.email, parsed.backend) == (
            "join", Path("/out/b1"), "-x --out=/etc", ["-e@example.org", "b@example.org"], "local")
        assert parsed.url == args[1]
    assert spec.join_args("/o")[1] == url and spec.join_args("/o", url="-")[1] == "-"
    (bot,) = job_manifest(spec, serve_settings())["spec"]["template"]["spec"]["containers"]
    parsed = build_parser().parse_args(bot["args"])
    assert (parsed.name, parsed.email, parsed.out) == ("-x --out=/etc", ["-e@example.org", "b@example.org"],
                                                       Path("/out/b1"))
    assert parsed.url == (url if "?" not in url else f"$({URL_ENV})")


@pytest.mark.parametrize("bot_id", ["b7f3c2a9d1", "Bot_ID.With-Caps_", "x" * 80, "9-"])
def test_job_names_are_dns_labels_and_distinct(bot_id: str) -> None:
    name = job_name(bot_id)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name), name
    assert name != job_name(bot_id + "x")
    kubernetes_validate.validate(job_manifest(LaunchSpec(bot_id=bot_id, meeting_url="https://m.example.org/R"),
                                              serve_settings()), kubernetes_validate.latest_version(), strict=True)


def test_ids_that_clean_to_the_same_name_get_distinct_names() -> None:
    ids = ["a-b", "a_b", "a.b", "A-B", "a--b", "ab"]
    assert len({job_name(i) for i in ids}) == len(ids)


def test_a_bot_id_that_cannot_name_a_folder_is_refused() -> None:
    with pytest.raises(LaunchError, match="folder"):
        job_manifest(LaunchSpec(bot_id="../etc", meeting_url="https://m.example.org/R"), serve_settings())


def test_a_template_of_ones_own_is_used(tmp_path: Path) -> None:
    template = yaml.safe_load(JOB.read_text(encoding="utf-8"))
    template["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "BOT_LOG__LEVEL", "value": "debug"}]
    own = tmp_path / "job.yaml"
    own.write_text(yaml.safe_dump(template), encoding="utf-8")
    job = job_manifest(SPECS["plain"], serve_settings(template=own))
    assert job["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "BOT_LOG__LEVEL", "value": "debug"}]
    template["spec"]["template"]["spec"]["volumes"] = []
    own.write_text(yaml.safe_dump(template), encoding="utf-8")
    with pytest.raises(LaunchError, match="persistentVolumeClaim at /out"):
        job_manifest(SPECS["plain"], serve_settings(template=own))
    own.write_text("kind: Pod\n", encoding="utf-8")
    with pytest.raises(LaunchError, match="not a batch Job"):
        job_manifest(SPECS["plain"], serve_settings(template=own))


def test_the_servers_rbac_example_is_valid_kubernetes() -> None:
    docs = list(yaml.safe_load_all((ROOT / "scripts" / "k8s-serve-rbac.yaml").read_text(encoding="utf-8")))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
