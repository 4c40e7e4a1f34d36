"""The kubernetes launcher's API calls, through kubernetes_asyncio, against a double of the API server.

The client is the real library, configured from a kubeconfig file written here (plain HTTP to the double on
127.0.0.1, token auth); the double (tests/doubles/kubernetes_api.py) answers the calls the launcher makes and
fails the test on any other. Not run against a real cluster: the Job controller, the kubelet and the garbage
collector are played by the test (pods, conditions, the Job's removal after a foreground deletion), so the
following are assumed from the Kubernetes documentation rather than observed: that a suspended Job starts no
pod until resumed, that ``$(VAR)`` in args is expanded from a ``secretKeyRef`` variable, that the Secret is
removed with its owner Job, and that a deleted Job's pod gets SIGTERM and its ``terminationGracePeriodSeconds``.
The manifests themselves are validated against the API schema in tests/test_k8s_job.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.config import ServeSettings
from bot.serve.k8s_manifest import LAUNCHING, job_manifest, job_name
from bot.serve.kubernetes import KubernetesLauncher, config_source
from bot.serve.launcher import LABEL_APP, LABEL_APP_VALUE, LABEL_BOT, LABEL_SERVER, LaunchError, server_id
from bot.serve.model import Exited, LaunchSpec
from tests.conftest import until
from tests.doubles.kubernetes_api import TRUE, KubeApi

NS = "meetings"
TOKEN = "k8s-sa-token-5f2b9c0e7d1a"
PASSWORD = "pw-Zq8!s3cr3t"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiKiJ9.c2lnbmF0dXJl"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"


@pytest.fixture
async def api() -> AsyncIterator[KubeApi]:
    double = KubeApi(namespace=NS, token=TOKEN)
    double.url = await double.start()  # type: ignore[attr-defined]
    yield double
    await double.stop()
    assert double.unexpected == [], "the launcher made calls the double does not know"


@pytest.fixture
def settings(api: KubeApi, tmp_path: Path) -> ServeSettings:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "double",
        "clusters": [{"name": "double", "cluster": {"server": api.url}}],  # type: ignore[attr-defined]
        "users": [{"name": "serve", "user": {"token": TOKEN}}],
        "contexts": [{"name": "double", "context": {"cluster": "double", "user": "serve"}}],
    }), encoding="utf-8")
    return ServeSettings(image="registry.example.org/notetaker:1.2", stop_grace_s=60,
                         kubernetes={"namespace": NS, "kubeconfig": kubeconfig})


@pytest.fixture
async def launcher(settings: ServeSettings) -> AsyncIterator[KubernetesLauncher]:
    k8s = KubernetesLauncher(settings, poll_s=0.02)
    yield k8s
    await k8s.aclose()


def spec(bot_id: str = "b7f3c2a9d1", **kw: object) -> LaunchSpec:
    return LaunchSpec(bot_id=bot_id, meeting_url="https://meet.example.org/TeamSync", **kw)  # type: ignore[arg-type]


async def test_a_job_with_secrets_is_created_suspended_then_resumed_once_its_secret_exists(
        api: KubeApi, launcher: KubernetesLauncher, settings: ServeSettings, tmp_path: Path) -> None:
    bot = LaunchSpec(bot_id="b7f3c2a9d1", meeting_url=f"https://meet.example.org/TeamSync?jwt={JWT}",
                     password=SecretStr(PASSWORD), bot_name="Notes")
    ref = await launcher.launch(bot, tmp_path / "bots" / bot.bot_id)
    assert ref == job_name(bot.bot_id) == "notetaker-b7f3c2a9d1"
    assert [(r.method, r.path) for r in api.requests] == [
        ("POST", JOBS), ("POST", f"/api/v1/namespaces/{NS}/secrets"), ("PATCH", f"{JOBS}/{ref}")]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    created, secret, resume = (r.body for r in api.requests)
    # the Job as generated, suspended (and marked so) until its Secret exists; nothing secret in it
    assert created["spec"].pop("suspend") is True
    assert created["metadata"]["annotations"].pop(LAUNCHING) == "true"
    assert created == json.loads(json.dumps(job_manifest(bot, settings)))
    assert PASSWORD not in json.dumps(created) and JWT not in json.dumps(created)
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": ref, "uid": api.jobs[ref]["metadata"]["uid"]}]
    assert secret["stringData"] == {"meeting-password": PASSWORD, "meeting-url": bot.meeting_url}
    assert resume == {"metadata": {"annotations": {LAUNCHING: None}}, "spec": {"suspend": False}}
    assert api.jobs[ref]["spec"]["suspend"] is False and LAUNCHING not in api.jobs[ref]["metadata"]["annotations"]


async def test_a_job_without_secrets_is_one_create(api: KubeApi, launcher: KubernetesLauncher,
                                                   tmp_path: Path) -> None:
    ref = await launcher.launch(spec(), tmp_path)
    ((method, path, body),) = [(r.method, r.path, r.body) for r in api.requests]
    assert (method, path) == ("POST", JOBS) and "suspend" not in body["spec"]
    assert body["metadata"]["name"] == ref and api.secrets == {}


async def test_a_bot_is_not_started_twice(api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path) -> None:
    await launcher.launch(spec(), tmp_path)
    with pytest.raises(LaunchError, match='409 Conflict: jobs.batch "notetaker-b7f3c2a9d1" already exists'):
        await launcher.launch(spec(), tmp_path)
    assert len(api.jobs) == 1


async def test_a_refused_secret_takes_its_job_away(api: KubeApi, launcher: KubernetesLauncher,
                                                   tmp_path: Path) -> None:
    api.refuse[("POST", "secrets")] = 403
    with pytest.raises(LaunchError, match="403") as info:
        await launcher.launch(spec(password=SecretStr(PASSWORD)), tmp_path)
    assert PASSWORD not in str(info.value)
    (delete,) = api.of("DELETE")
    assert delete.path == f"{JOBS}/notetaker-b7f3c2a9d1" and delete.body["propagationPolicy"] == "Foreground"
    assert api.jobs["notetaker-b7f3c2a9d1"]["metadata"]["deletionTimestamp"]
    assert api.of("PATCH") == []  # never resumed


async def test_a_job_that_cannot_be_taken_away_either_is_left_suspended(
        api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path) -> None:
    api.refuse[("POST", "secrets")] = api.refuse[("DELETE", "jobs")] = 403
    with pytest.raises(LaunchError, match="cannot create the Secret of Job notetaker-b7f3c2a9d1: 403 Forbidden$"):
        await launcher.launch(spec(password=SecretStr(PASSWORD)), tmp_path)
    assert len(api.of("DELETE")) == 1 and api.jobs["notetaker-b7f3c2a9d1"]["spec"]["suspend"] is True


async def test_a_refused_job_is_a_launch_error(api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path) -> None:
    api.refuse[("POST", "jobs")] = 403
    with pytest.raises(LaunchError, match=f"cannot create Job notetaker-b7f3c2a9d1 in namespace {NS}: 403 Forbidden: "
                       "jobs is forbidden: .* cannot post resource"):
        await launcher.launch(spec(), tmp_path)


async def _watching(api: KubeApi, ref: str) -> None:
    await until(lambda: any("watch" in r.query for r in api.of("GET", "/jobs")), timeout=10)
    watch = [r for r in api.of("GET", "/jobs") if "watch" in r.query][-1]
    assert watch.query["watch"] in TRUE and watch.query["fieldSelector"] == f"metadata.name={ref}"
    assert int(watch.query["resourceVersion"]) > 0


async def test_wait_follows_the_watch_to_the_bots_exit(api: KubeApi, launcher: KubernetesLauncher,
                                                      tmp_path: Path) -> None:
    ref = await launcher.launch(spec(), tmp_path)
    waiting = asyncio.create_task(launcher.wait(ref))
    try:
        await _watching(api, ref)
        await api.add_pod(ref)  # running
        assert not waiting.done()
        await api.add_pod(ref, exit_code=0)
        await api.finish(ref, "Complete")
        assert await asyncio.wait_for(waiting, 10) == Exited(0, None)
    finally:
        waiting.cancel()
    pods = api.of("GET", "/pods")
    assert pods and all(r.query == {"labelSelector": f"job-name={ref}"} for r in pods)


@pytest.mark.parametrize(("kind", "reason", "pod", "expected"), [
    ("Failed", "BackoffLimitExceeded", {"exit_code": 3, "term_reason": "Error"}, Exited(3, None)),
    ("Failed", "DeadlineExceeded", {"exit_code": 143, "term_reason": "Error"},
     Exited(143, "DeadlineExceeded: Job was active longer than specified deadline")),
    ("Failed", "BackoffLimitExceeded", {"exit_code": 137, "pod_reason": "Evicted",
                                        "message": "The node was low on resource: memory."},
     Exited(137, "pod Evicted: The node was low on resource: memory.")),
    ("Failed", "BackoffLimitExceeded", {"exit_code": 137, "term_reason": "OOMKilled"}, Exited(137, "OOMKilled")),
    ("Failed", "BackoffLimitExceeded", None, Exited(None, "BackoffLimitExceeded: Job has reached the specified "
                                                          "backoff limit")),
])
async def test_wait_says_how_a_failed_job_ended(api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path,
                                                kind: str, reason: str, pod: dict[str, object] | None,
                                                expected: Exited) -> None:
    ref = await launcher.launch(spec(), tmp_path)
    if pod is not None:
        await api.add_pod(ref, **pod)  # type: ignore[arg-type]
    await api.finish(ref, kind, reason, {"DeadlineExceeded": "Job was active longer than specified deadline",
                                         "BackoffLimitExceeded": "Job has reached the specified backoff limit"}[reason])
    assert await asyncio.wait_for(launcher.wait(ref), 10) == expected  # ended before wait: no watch needed
    assert not [r for r in api.requests if r.query.get("watch")]


async def test_stop_deletes_the_job_with_grace_and_wait_sees_its_pod_leave(
        api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path) -> None:
    ref = await launcher.launch(spec(password=SecretStr(PASSWORD)), tmp_path)
    await api.add_pod(ref)
    waiting = asyncio.create_task(launcher.wait(ref))
    try:
        await _watching(api, ref)
        await launcher.stop(ref, 45)
        (delete,) = api.of("DELETE")
        assert delete.path == f"{JOBS}/{ref}"
        assert delete.body == {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
                               "gracePeriodSeconds": 45}
        # the pod got SIGTERM: the bot leaves, writes its files, exits 0; then the Job goes
        await until(lambda: len(api.of("GET", "/pods")) >= 2, timeout=10)
        assert not waiting.done()
        await api.add_pod(ref, exit_code=0)
        seen = len(api.of("GET", "/pods"))
        await until(lambda: len(api.of("GET", "/pods")) >= seen + 2, timeout=10)  # one full poll after it
        await api.remove_job(ref)
        assert await asyncio.wait_for(waiting, 10) == Exited(0, "the Job was deleted")
    finally:
        waiting.cancel()
    await launcher.stop(ref, 45)  # gone already: not an error


async def test_stop_never_raises(api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path) -> None:
    ref = await launcher.launch(spec(), tmp_path)
    api.refuse[("DELETE", "jobs")] = 403
    with capture_logs() as logs:
        await launcher.stop(ref, 30)
    (failed,) = [e for e in logs if e["event"] == "kubernetes.stop_failed"]
    assert failed["job"] == ref and failed["error"].startswith("403 Forbidden")
    del api.refuse[("DELETE", "jobs")]
    await launcher.stop(ref, 30)  # called again, it deletes the Job
    assert api.jobs[ref]["metadata"]["deletionTimestamp"]


async def test_wait_on_a_job_deleted_meanwhile(api: KubeApi, launcher: KubernetesLauncher, tmp_path: Path) -> None:
    ref = await launcher.launch(spec(), tmp_path)
    await api.remove_job(ref)
    assert await asyncio.wait_for(launcher.wait(ref), 10) == Exited(None, "the Job was deleted")


async def test_a_launch_cut_short_is_cleaned_up_by_wait(api: KubeApi, launcher: KubernetesLauncher,
                                                        tmp_path: Path) -> None:
    # The Secret could not be made and the Job could not be deleted either: it is left suspended, marked as a
    # launch under way; a later wait (a restarted server's) deletes it.
    api.refuse[("POST", "secrets")] = api.refuse[("DELETE", "jobs")] = 403
    with pytest.raises(LaunchError):
        await launcher.launch(spec(password=SecretStr(PASSWORD)), tmp_path)
    ref = job_name(spec().bot_id)
    assert api.jobs[ref]["spec"]["suspend"] is True and api.jobs[ref]["metadata"]["annotations"][LAUNCHING]
    del api.refuse[("DELETE", "jobs")]
    ended = await asyncio.wait_for(launcher.wait(ref), 10)
    assert ended.exit_code is None and "interrupted" in (ended.reason or "")
    assert [r.path for r in api.of("DELETE")] == [f"{JOBS}/{ref}"] * 2
    assert api.jobs[ref]["metadata"]["deletionTimestamp"]


async def test_a_job_suspended_by_someone_else_is_waited_for(api: KubeApi, launcher: KubernetesLauncher,
                                                             tmp_path: Path) -> None:
    # A queueing controller (Kueue) suspends Jobs until it admits them: not a launch cut short.
    ref = await launcher.launch(spec(), tmp_path)
    api.jobs[ref]["spec"]["suspend"] = True
    waiting = asyncio.create_task(launcher.wait(ref))
    try:
        await _watching(api, ref)
        await api.resume(ref)
        await api.add_pod(ref, exit_code=0)
        await api.finish(ref, "Complete")
        assert await asyncio.wait_for(waiting, 10) == Exited(0, None)
    finally:
        waiting.cancel()
    assert api.of("DELETE") == []


@pytest.mark.parametrize(("reason", "message"), [
    ("ImagePullBackOff", 'Back-off pulling image "registry.example.org/notetaker:1.2"'),
    ("CreateContainerConfigError", 'secret "notetaker" not found'),
])
async def test_a_pod_that_cannot_start_fails_the_wait(api: KubeApi, settings: ServeSettings, tmp_path: Path,
                                                      reason: str, message: str) -> None:
    k8s = KubernetesLauncher(settings, poll_s=0.02, stuck_s=0.2, check_s=0.05)
    try:
        ref = await k8s.launch(spec(), tmp_path)
        await api.add_pod(ref, waiting=reason, message=message)
        ended = await asyncio.wait_for(k8s.wait(ref), 10)
    finally:
        await k8s.aclose()
    assert ended.exit_code is None and f"{reason}: {message}" in (ended.reason or ""), ended
    (delete,) = api.of("DELETE")
    assert delete.path == f"{JOBS}/{ref}" and delete.body["gracePeriodSeconds"] == 0


async def test_a_pod_being_created_is_not_taken_for_one_that_cannot_start(
        api: KubeApi, settings: ServeSettings, tmp_path: Path) -> None:
    k8s = KubernetesLauncher(settings, poll_s=0.02, stuck_s=0, check_s=0.05)
    try:
        ref = await k8s.launch(spec(), tmp_path)
        await api.add_pod(ref, waiting="ContainerCreating")
        waiting = asyncio.create_task(k8s.wait(ref))
        try:
            await until(lambda: len(api.of("GET", "/pods")) >= 3, timeout=10)  # looked at it again and again
            assert not waiting.done()
            await api.add_pod(ref)  # running: it is no longer looked at
            await api.add_pod(ref, exit_code=0)
            await api.finish(ref, "Complete")
            assert await asyncio.wait_for(waiting, 10) == Exited(0, None)
        finally:
            waiting.cancel()
    finally:
        await k8s.aclose()
    assert api.of("DELETE") == []


async def test_running_finds_this_servers_jobs_by_label(api: KubeApi, launcher: KubernetesLauncher,
                                                        settings: ServeSettings, tmp_path: Path) -> None:
    one = await launcher.launch(spec("bot1"), tmp_path)
    two = await launcher.launch(spec("Bot_2.x", password=SecretStr(PASSWORD)), tmp_path)
    await api.put_job({"apiVersion": "batch/v1", "kind": "Job", "spec": {},
                       "metadata": {"name": "someone-elses", "labels": {"app": "other"}}})
    # another server's bot in the same namespace (its own serve.instance): never adopted by this one
    await api.put_job({"apiVersion": "batch/v1", "kind": "Job",
                       "spec": {"template": {"spec": {"containers": [{"name": "bot"}]}}},
                       "metadata": {"name": "notetaker-bot3", "annotations": {LABEL_BOT: "bot3"},
                                    "labels": {LABEL_APP: LABEL_APP_VALUE, LABEL_BOT: "bot3",
                                               LABEL_SERVER: "other-server"}}})
    assert await launcher.running() == {"bot1": one, "Bot_2.x": two}
    (listing,) = [r for r in api.of("GET", JOBS) if "labelSelector" in r.query]
    assert listing.query == {"labelSelector": f"{LABEL_APP}={LABEL_APP_VALUE},{LABEL_SERVER}={server_id(settings)}",
                             "limit": "500"}
    other = KubernetesLauncher(settings.model_copy(update={"instance": "other-server"}))
    try:
        assert await other.running() == {"bot3": "notetaker-bot3"}
    finally:
        await other.aclose()


async def test_without_any_configuration_the_error_says_what_to_set(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LaunchError, match="serve.kubernetes.kubeconfig"):
        config_source(None)
    k8s = KubernetesLauncher(ServeSettings(kubernetes={"kubeconfig": tmp_path / "nope"}))
    with pytest.raises(LaunchError, match="no file"):
        await k8s.running()
    await k8s.aclose()
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("{}", encoding="utf-8")
    assert config_source(None) == tmp_path / ".kube" / "config"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert config_source(None) is None  # in a cluster: its service account
    k8s = KubernetesLauncher(ServeSettings())
    with pytest.raises(LaunchError, match="cannot load the Kubernetes configuration"):
        await k8s.running()  # no service account token file here
    await k8s.aclose()


def _allowed(role: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in role["rules"])


async def test_the_rbac_example_allows_every_call_of_a_bots_life(api: KubeApi, launcher: KubernetesLauncher,
                                                                 tmp_path: Path) -> None:
    ref = await launcher.launch(spec(password=SecretStr(PASSWORD)), tmp_path)
    await launcher.running()
    await api.add_pod(ref)
    waiting = asyncio.create_task(launcher.wait(ref))
    try:
        await _watching(api, ref)
        await launcher.stop(ref, 30)
        await until(lambda: bool(api.of("GET", "/pods")), timeout=10)
        await api.remove_job(ref)
        await asyncio.wait_for(waiting, 10)
    finally:
        waiting.cancel()
    rbac = yaml.safe_load_all((Path(__file__).parent.parent / "scripts" / "k8s-serve-rbac.yaml").read_text("utf-8"))
    (role,) = [d for d in rbac if d["kind"] == "Role"]
    calls = set()
    for r in api.requests:
        parts = r.path.strip("/").split("/")  # api/v1/namespaces/NS/KIND[/NAME] or apis/GROUP/v1/...
        group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
        named = len(rest) > 3  # namespaces, NS, KIND, NAME
        verb = {"POST": "create", "PATCH": "patch", "DELETE": "delete"}.get(
            r.method, "get" if named else "watch" if "watch" in r.query else "list")
        calls.add((group, rest[2], verb))
    assert calls == {("batch", "jobs", v) for v in ("create", "get", "list", "watch", "patch", "delete")} | {
        ("", "secrets", "create"), ("", "pods", "list")}
    assert all(_allowed(role, *call) for call in calls), [c for c in calls if not _allowed(role, *c)]
