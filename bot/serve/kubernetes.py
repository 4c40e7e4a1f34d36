"""``serve.launcher = "kubernetes"``: one Job per meeting, through the Kubernetes API (kubernetes_asyncio).

The service account (or kubeconfig user) needs, in ``serve.kubernetes.namespace``: jobs create, get, list,
watch, patch, delete; secrets create; pods list (scripts/k8s-serve-rbac.yaml). The namespace of a kubeconfig
context is not used: ``serve.kubernetes.namespace`` is.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.watch import Watch

from bot.config import ServeSettings
from bot.serve.k8s_manifest import CONTAINER, LAUNCHING, job_manifest, job_name, secret_manifest
from bot.serve.launcher import LABEL_APP, LABEL_APP_VALUE, LABEL_BOT, LABEL_SERVER, LaunchError, server_id
from bot.serve.model import Exited, LaunchSpec

log = structlog.get_logger(__name__)

WATCH_S = 240  # one watch request; the API server ends it and the next one starts from the last version
RETRY_S = 5.0  # after an API error while waiting (the API server restarting ...)
POLL_S = 1.0  # while a deleted Job's pod is leaving: how often its state is read
JOB_NAME_LABEL = "job-name"  # set by the Job controller on the Job's pods
STUCK_S = 300.0  # how long a pod may stay unable to start (its image cannot be pulled ...) before the bot fails
CHECK_S = 15.0  # until the bot's pod has started: how often it is looked at
STOP_TIMEOUT_S = 60.0  # the Job's deletion request
# A container waiting for one of these will not start without someone's help (a fixed image name, a Secret made).
CANNOT_START = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                          "CreateContainerError", "ErrImageNeverPull"})


def config_source(kubeconfig: Path | None) -> Path | None:
    """The kubeconfig file to use: ``kubeconfig`` if given, else None in a cluster, else ``~/.kube/config``.

    ``$KUBECONFIG`` (its first file) stands for ``~/.kube/config``, as with kubectl.

    Raises:
        LaunchError: the file named does not exist, or there is none and no cluster around.
    """
    if kubeconfig is not None:
        if not kubeconfig.expanduser().is_file():
            raise LaunchError(f"serve.kubernetes.kubeconfig: no file {kubeconfig}")
        return kubeconfig.expanduser()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    default = Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube" / "config")
    if not default.expanduser().is_file():
        raise LaunchError("no Kubernetes configuration: set serve.kubernetes.kubeconfig, run the server in the "
                          f"cluster (with a service account), or provide {default}")
    return default.expanduser()


async def load_configuration(kubeconfig: Path | None) -> client.Configuration:
    """The API client's configuration, from the file ``config_source`` names or the in-cluster service account.

    Raises:
        LaunchError: none is usable.
    """
    cfg = client.Configuration()
    source = config_source(kubeconfig)
    try:
        if source is None:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(config_file=str(source), client_configuration=cfg, persist_config=False)
    except (ConfigException, OSError, ValueError) as exc:
        raise LaunchError(f"cannot load the Kubernetes configuration: {exc}") from exc
    return cfg


def _true_condition(job: Any, *types: str) -> Any:
    for cond in (job.status and job.status.conditions) or []:
        if cond.type in types and cond.status == "True":
            return cond
    return None


class KubernetesLauncher:
    """Starts each bot as a Job in ``serve.kubernetes.namespace``; the ref is the Job's name.

    Args:
        settings: the ``[serve]`` settings (image, stop_grace_s, kubernetes.*).
        poll_s: while a deleted Job's pod leaves, how often its state is read.
        stuck_s: how long the pod may be unable to start (``ImagePullBackOff``, ``CreateContainerConfigError``
            ...) before ``wait`` deletes the Job and says why, rather than waiting for its deadline.
        check_s: until the pod has started, how often ``wait`` looks at it.
    """

    name = "kubernetes"

    def __init__(self, settings: ServeSettings, *, poll_s: float = POLL_S, stuck_s: float = STUCK_S,
                 check_s: float = CHECK_S) -> None:
        self._settings = settings
        self._poll_s = poll_s
        self._stuck_s = stuck_s
        self._check_s = check_s
        self._ns = settings.kubernetes.namespace
        self._api: client.ApiClient | None = None
        self._lock = asyncio.Lock()

    async def _client(self) -> client.ApiClient:
        async with self._lock:
            if self._api is None:
                cfg = await load_configuration(self._settings.kubernetes.kubeconfig)
                self._api = client.ApiClient(configuration=cfg)
            return self._api

    async def _batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(await self._client())

    async def _core(self) -> client.CoreV1Api:
        return client.CoreV1Api(await self._client())

    async def launch(self, spec: LaunchSpec, out_dir: Path) -> str:
        """Create the bot's Job (and its Secret, owned by the Job); return the Job's name.

        ``out_dir`` is where the server sees the bot's files; in the pod they are ``/out/<bot id>`` on the claim.
        A Job that needs a Secret is created suspended (and annotated ``LAUNCHING``) and resumed once the Secret
        exists, so that its pod never starts without it.

        Raises:
            LaunchError: the API refused (a Job of that name exists already, no permission, bad template ...).
        """
        job = job_manifest(spec, self._settings)
        secret = secret_manifest(spec)
        name = job["metadata"]["name"]
        if secret is not None:
            job["spec"]["suspend"] = True
            job["metadata"]["annotations"][LAUNCHING] = "true"
        batch, core = await self._batch(), await self._core()
        try:
            created = await batch.create_namespaced_job(self._ns, _body(job))
        except (ApiException, aiohttp.ClientError) as exc:
            raise LaunchError(f"cannot create Job {name} in namespace {self._ns}: {_why(exc)}") from exc
        if secret is None:
            log.info("kubernetes.launched", job=name, bot_id=spec.bot_id)
            return str(name)
        try:
            secret["metadata"]["ownerReferences"] = [{
                "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": created.metadata.uid}]
            await core.create_namespaced_secret(self._ns, _body(secret))
            await batch.patch_namespaced_job(
                name, self._ns, {"metadata": {"annotations": {LAUNCHING: None}}, "spec": {"suspend": False}})
        except (ApiException, aiohttp.ClientError) as exc:
            try:
                await self._delete(name, grace_s=0)
            except (ApiException, aiohttp.ClientError) as again:  # wait() deletes a Job left suspended
                log.warning("kubernetes.delete_failed", job=name, error=_why(again))
            raise LaunchError(f"cannot create the Secret of Job {name}: {_why(exc, message=False)}") from exc
        log.info("kubernetes.launched", job=name, bot_id=spec.bot_id)
        return str(name)

    async def wait(self, ref: str) -> Exited:
        """Watch Job ``ref`` until it completes, fails or is deleted; its bot container's exit code and why.

        Until its pod has started, the pod is looked at every ``check_s``: one that cannot start for ``stuck_s``
        ends the wait (the Job is deleted).
        """
        batch = await self._batch()
        started = False
        stuck_since: float | None = None
        while True:
            try:
                job = await batch.read_namespaced_job(ref, self._ns)
                if (ended := await self._ended(job)) is not None:
                    return ended
                if job.metadata.deletion_timestamp is not None:
                    return await self._deleted(ref)
                if job.spec.suspend and LAUNCHING in (job.metadata.annotations or {}):
                    # The server stopped between the Job and its Secret.
                    await self._delete(ref, grace_s=0)
                    return Exited(None, "the launch was interrupted (Job left suspended); deleted")
                if not started:
                    started, blocked = await self._pod_progress(ref)
                    now = asyncio.get_running_loop().time()
                    stuck_since = None if blocked is None else now if stuck_since is None else stuck_since
                    if blocked is not None and stuck_since is not None and now - stuck_since >= self._stuck_s:
                        return await self._cannot_start(ref, blocked)
                check = asyncio.timeout(None if started else self._check_s)
                try:
                    async with check, Watch() as watch:
                        async for event in watch.stream(
                                batch.list_namespaced_job, self._ns, field_selector=f"metadata.name={ref}",
                                resource_version=job.metadata.resource_version, timeout_seconds=WATCH_S,
                                _request_timeout=aiohttp.ClientTimeout(sock_connect=30, sock_read=WATCH_S + 30)):
                            obj = event["object"]
                            if event["type"] == "DELETED" or obj.metadata.deletion_timestamp is not None:
                                return await self._deleted(ref)
                            if (ended := await self._ended(obj)) is not None:
                                return ended
                except TimeoutError:
                    if not check.expired():
                        raise
            except ApiException as exc:
                if exc.status == 404:
                    return await self._deleted(ref)
                if exc.status != 410:  # 410: the watched version is too old; read the Job again
                    log.warning("kubernetes.wait_error", job=ref, status=exc.status, reason=exc.reason)
                    await asyncio.sleep(RETRY_S)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("kubernetes.wait_error", job=ref, error=type(exc).__name__)
                await asyncio.sleep(RETRY_S)

    async def _pod_progress(self, ref: str) -> tuple[bool, str | None]:
        """Whether the newest pod has started a container, and what keeps it from starting, if it cannot."""
        pod = await self._newest_pod(ref)
        if pod is None or pod.status is None:
            return False, None
        statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
        blocked: str | None = None
        for status in statuses:
            state = status.state
            if state is None:
                continue
            if state.running is not None or state.terminated is not None:
                return True, None
            waiting = state.waiting
            if blocked is None and waiting is not None and waiting.reason in CANNOT_START:
                blocked = f"{waiting.reason}: {waiting.message}" if waiting.message else str(waiting.reason)
        return False, blocked

    async def _cannot_start(self, ref: str, blocked: str) -> Exited:
        log.warning("kubernetes.cannot_start", job=ref, reason=blocked, stuck_s=self._stuck_s)
        try:
            await self._delete(ref, grace_s=0)
        except (ApiException, aiohttp.ClientError) as exc:
            log.warning("kubernetes.delete_failed", job=ref, error=_why(exc))
        return Exited(None, f"the pod could not start for {self._stuck_s:g} s: {blocked}; its Job was deleted")

    async def _ended(self, job: Any) -> Exited | None:
        cond = _true_condition(job, "Complete", "Failed")
        if cond is None:
            return None
        code, pod_reason = await self._pod_outcome(job.metadata.name)
        if cond.type == "Complete":
            return Exited(0 if code is None else code, pod_reason)
        if pod_reason is None and not (cond.reason == "BackoffLimitExceeded" and code is not None):
            pod_reason = f"{cond.reason}: {cond.message}" if cond.message else cond.reason
        return Exited(code, pod_reason)

    async def _pod_outcome(self, ref: str) -> tuple[int | None, str | None]:
        """The newest pod's bot exit code, and why it ended when that was not the bot's doing."""
        pod = await self._newest_pod(ref)
        if pod is None:
            return None, None
        statuses = pod.status.container_statuses or []
        status = next((s for s in statuses if s.name == CONTAINER), statuses[0] if statuses else None)
        term = status.state.terminated if status is not None and status.state is not None else None
        if pod.status.reason:  # Evicted, DeadlineExceeded, NodeLost ...
            why = f"pod {pod.status.reason}" + (f": {pod.status.message}" if pod.status.message else "")
            return (term.exit_code if term else None), why
        if term is None:
            return None, None
        return term.exit_code, (term.reason if term.reason in ("OOMKilled", "ContainerCannotRun") else None)

    async def _newest_pod(self, ref: str) -> Any:
        core = await self._core()
        pods = (await core.list_namespaced_pod(self._ns, label_selector=f"{JOB_NAME_LABEL}={ref}")).items or []
        if not pods:
            return None
        return max(pods, key=lambda p: p.metadata.creation_timestamp.timestamp() if p.metadata.creation_timestamp
                   else 0.0)

    async def _deleted(self, ref: str) -> Exited:
        """The Job is being deleted (``stop``, or by hand): follow its pod until the Job is gone."""
        batch = await self._batch()
        code: int | None = None
        while True:
            try:
                pod_code, _ = await self._pod_outcome(ref)
                code = pod_code if pod_code is not None else code
                job = await batch.read_namespaced_job(ref, self._ns)
            except ApiException as exc:
                if exc.status == 404:
                    return Exited(code, "the Job was deleted")
                log.warning("kubernetes.wait_error", job=ref, status=exc.status, reason=exc.reason)
                await asyncio.sleep(RETRY_S)
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("kubernetes.wait_error", job=ref, error=type(exc).__name__)
                await asyncio.sleep(RETRY_S)
                continue
            if (ended := await self._ended(job)) is not None:
                return ended
            await asyncio.sleep(self._poll_s)

    async def stop(self, ref: str, grace_s: float) -> None:
        """Delete Job ``ref`` (foreground: its pod first); the pod gets SIGTERM and its grace period.

        The pod's grace is its ``terminationGracePeriodSeconds``, which the manifest sets to at least
        ``serve.stop_grace_s``. Never raises: a refused or unanswered deletion is logged (stop may be called
        again).
        """
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await self._delete(ref, grace_s)
        except (ApiException, aiohttp.ClientError, TimeoutError, LaunchError) as exc:
            log.warning("kubernetes.stop_failed", job=ref, error=_why(exc) if str(exc) else type(exc).__name__)

    async def _delete(self, ref: str, grace_s: float) -> None:
        batch = await self._batch()
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
                "gracePeriodSeconds": math.ceil(grace_s)}
        try:
            await batch.delete_namespaced_job(ref, self._ns, body=_body(body))
        except ApiException as exc:
            if exc.status != 404:
                raise
        log.info("kubernetes.deleted", job=ref, grace_s=grace_s)

    async def running(self) -> dict[str, str]:
        """This server's Jobs in the namespace (running or finished and not yet removed): bot id -> Job name.

        Raises:
            LaunchError: they cannot be listed.
        """
        batch = await self._batch()
        found: dict[str, str] = {}
        cont: str | None = None
        try:
            while True:
                more: dict[str, Any] = {"_continue": cont} if cont else {}
                mine = f"{LABEL_APP}={LABEL_APP_VALUE},{LABEL_SERVER}={server_id(self._settings)}"
                page = await batch.list_namespaced_job(self._ns, label_selector=mine, limit=500, **more)
                for job in page.items or []:
                    meta = job.metadata
                    bot_id = (meta.annotations or {}).get(LABEL_BOT) or (meta.labels or {}).get(LABEL_BOT)
                    if bot_id and meta.name == job_name(bot_id):
                        found[bot_id] = meta.name
                cont = page.metadata._continue if page.metadata else None
                if not cont:
                    return found
        except (ApiException, aiohttp.ClientError) as exc:
            raise LaunchError(f"cannot list the Jobs in namespace {self._ns}: {_why(exc)}") from exc

    async def aclose(self) -> None:
        """Close the API client (the Jobs keep running)."""
        if self._api is not None:
            await self._api.close()
            self._api = None


def _body(manifest: dict[str, Any]) -> Any:
    # The client takes plain dicts as well as its models; its annotations only name the models.
    return manifest


def _why(exc: Exception, *, message: bool = True) -> str:
    # With ``message``, the API server's own words, which name the missing permission or the field at fault;
    # left out where the request held a secret.
    if not isinstance(exc, ApiException):
        return f"{type(exc).__name__}: {exc}"
    why = f"{exc.status} {exc.reason}"
    if message:
        try:
            text = json.loads(exc.body or "{}").get("message")
        except (ValueError, AttributeError):
            text = None
        if text:
            why += f": {text}"
    return why
