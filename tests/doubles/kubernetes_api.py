"""A double of the Kubernetes API server, for the part of it the serve launcher uses; strict about the rest.

An aiohttp server on 127.0.0.1:<ephemeral> (plain HTTP, bearer token) with, in one namespace:

* ``POST/GET /apis/batch/v1/namespaces/{ns}/jobs``: create (409 when the name exists), list by
  ``labelSelector`` (``k=v`` terms), watch (``watch=true`` as Go's ParseBool reads it,
  ``fieldSelector=metadata.name=N``, ``resourceVersion``: the events after that version, then new ones as they
  happen, one JSON object a line);
* ``GET/PATCH/DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}``: read, strategic-merge patch of
  ``spec.suspend`` (with annotations set or, given null, removed), delete (the body's DeleteOptions kept;
  the Job gets a ``deletionTimestamp``, as in a foreground deletion, and goes when the test calls
  ``remove_job``);
* ``POST /api/v1/namespaces/{ns}/secrets``; ``GET /api/v1/namespaces/{ns}/pods?labelSelector=job-name=N``.

It runs no controller: the test moves a Job along (``add_pod``, ``resume``, ``finish``, ``remove_job``). Anything
else (another path, method or namespace, a missing or wrong token) is answered 404/401 and noted in
``unexpected``, which the test asserts empty. Every request is kept in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

JOBS = re.compile(r"/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/]+))?")
CORE = re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>secrets|pods)")
TIME = "2026-11-30T07:00:00Z"
TRUE = {"1", "t", "T", "true", "TRUE", "True"}  # Go's strconv.ParseBool, as the API server reads ?watch=


@dataclass
class Request:
    """One request as the double saw it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class KubeApi:
    """The double's state; ``start`` serves it."""

    namespace: str
    token: str
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    refuse: dict[tuple[str, str], int] = field(default_factory=dict)  # (method, "jobs"|"secrets"...) -> 403 ...
    _version: int = 100
    _log: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Serve on an ephemeral loopback port; return the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop serving (open watches are cut)."""
        if self._runner is not None:
            await self._runner.cleanup()

    def of(self, method: str, suffix: str = "") -> list[Request]:
        """The requests of ``method`` whose path ends with ``suffix``."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # --- what a controller, the kubelet or a person would do ---

    async def add_pod(self, job: str, *, exit_code: int | None = None, term_reason: str = "Completed",
                      pod_reason: str | None = None, message: str | None = None,
                      waiting: str | None = None) -> None:
        """Give ``job`` a pod (replacing any): running, with its bot container terminated, or (``waiting``: a
        reason such as ``ImagePullBackOff``, ``message`` its message) pending, its bot container not started."""
        state: dict[str, Any] = {"running": {"startedAt": TIME}} if exit_code is None else {
            "terminated": {"exitCode": exit_code, "reason": term_reason, "finishedAt": TIME}}
        if waiting is not None:
            state, message = {"waiting": {"reason": waiting, "message": message}}, None
        phase = "Pending" if waiting is not None else "Running" if exit_code is None else "Failed"
        status: dict[str, Any] = {"phase": phase,
                                  "containerStatuses": [{"name": "bot", "image": "img", "imageID": "",
                                                         "ready": exit_code is None, "restartCount": 0,
                                                         "state": state}]}
        if pod_reason:
            status.update(reason=pod_reason, message=message)
        self.pods[job] = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"{job}-x7k2p", "namespace": self.namespace, "creationTimestamp": TIME,
            "labels": {"job-name": job, "batch.kubernetes.io/job-name": job}}, "status": status}

    async def finish(self, job: str, kind: str, reason: str | None = None, message: str | None = None) -> None:
        """Set the Job's ``Complete`` or ``Failed`` condition (a MODIFIED event)."""
        cond = {"type": kind, "status": "True", "lastTransitionTime": TIME, "reason": reason, "message": message}
        self.jobs[job]["status"] = {"conditions": [cond], "startTime": TIME}
        await self._event("MODIFIED", self.jobs[job])

    async def resume(self, job: str) -> None:
        """Unsuspend the Job (as a queueing controller admitting it would)."""
        self.jobs[job]["spec"]["suspend"] = False
        await self._event("MODIFIED", self.jobs[job])

    async def remove_job(self, job: str) -> None:
        """The garbage collector removes a deleted Job once its pods are gone (a DELETED event)."""
        self.pods.pop(job, None)
        await self._event("DELETED", self.jobs.pop(job))

    async def put_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Store ``job`` as the API server would on create (uid, resourceVersion)."""
        name = job["metadata"]["name"]
        job["metadata"].update(namespace=self.namespace, uid=f"uid-{name}", creationTimestamp=TIME)
        job.setdefault("status", {})
        self.jobs[name] = job
        await self._event("ADDED", job)
        return job

    async def _event(self, kind: str, job: dict[str, Any]) -> None:
        self._version += 1
        job["metadata"]["resourceVersion"] = str(self._version)
        self._log.append((self._version, kind, json.loads(json.dumps(job))))
        async with self._changed:
            self._changed.notify_all()

    # --- the API ---

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        self.requests.append(Request(request.method, request.path, query, json.loads(raw) if raw else None,
                                     dict(request.headers)))
        what = f"{request.method} {request.path_qs}"
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.unexpected.append(f"{what}: Authorization {request.headers.get('Authorization')!r}")
            return _status(401, "Unauthorized")
        jobs, core = JOBS.fullmatch(request.path), CORE.fullmatch(request.path)
        match = jobs or core
        if match is None or match["ns"] != self.namespace:
            self.unexpected.append(what)
            return _status(404, "NotFound")
        kind = "jobs" if jobs else match["kind"]
        if (refused := self.refuse.get((request.method, kind))) is not None:
            return _status(refused, "Forbidden", f'{kind} is forbidden: User "system:serviceaccount:{self.namespace}:'
                           f'notetaker-serve" cannot {request.method.lower()} resource "{kind}"')
        if jobs and match["name"] is None:
            if request.method == "POST":
                return await self._create_job(body)
            if request.method == "GET" and query.get("watch") in TRUE:
                return await self._watch(request, query)
            if request.method == "GET":
                return self._list_jobs(query)
        elif jobs:
            handler = {"GET": self._read_job, "PATCH": self._patch_job, "DELETE": self._delete_job}.get(
                request.method)
            if handler is not None:
                return await handler(request, match["name"], body)
        elif kind == "secrets" and request.method == "POST":
            name = body["metadata"]["name"]
            if name in self.secrets:
                return _status(409, "AlreadyExists")
            self.secrets[name] = body
            return web.json_response(body, status=201)
        elif kind == "pods" and request.method == "GET" and set(query) == {"labelSelector"}:
            want = _selector(query["labelSelector"])
            items = [p for p in self.pods.values() if want.items() <= p["metadata"]["labels"].items()]
            return web.json_response({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})
        self.unexpected.append(what)
        return _status(404, "NotFound")

    async def _create_job(self, body: dict[str, Any]) -> web.StreamResponse:
        if body["metadata"]["name"] in self.jobs:
            return _status(409, "AlreadyExists", f'jobs.batch "{body["metadata"]["name"]}" already exists')
        return web.json_response(await self.put_job(body), status=201)

    def _list_jobs(self, query: dict[str, str]) -> web.StreamResponse:
        want = _selector(query.get("labelSelector", ""))
        items = [j for j in self.jobs.values() if want.items() <= (j["metadata"].get("labels") or {}).items()]
        return web.json_response({"apiVersion": "batch/v1", "kind": "JobList",
                                  "metadata": {"resourceVersion": str(self._version)}, "items": items})

    async def _watch(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        name = query.get("fieldSelector", "").removeprefix("metadata.name=")
        since = int(query.get("resourceVersion") or 0)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            async with asyncio.timeout(float(query.get("timeoutSeconds", 60))):
                while True:
                    for version, kind, obj in [e for e in self._log if e[0] > since]:
                        since = version
                        if obj["metadata"]["name"] == name:
                            await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                    async with self._changed:
                        await self._changed.wait_for(partial(self._newer_than, since))
        except TimeoutError:
            pass  # the API server ends a watch after timeoutSeconds
        return response

    def _newer_than(self, version: int) -> bool:
        return self._log[-1][0] > version

    async def _read_job(self, _request: web.Request, name: str, _body: Any) -> web.StreamResponse:
        if name not in self.jobs:
            return _status(404, "NotFound")
        return web.json_response(self.jobs[name])

    async def _patch_job(self, request: web.Request, name: str, body: Any) -> web.StreamResponse:
        if name not in self.jobs:
            return _status(404, "NotFound")
        if request.content_type != "application/strategic-merge-patch+json" or set(body) - {"metadata", "spec"} or (
                body["spec"] != {"suspend": False}) or set(body.get("metadata", {})) - {"annotations"}:
            self.unexpected.append(f"PATCH {name}: {request.content_type} {body}")
            return _status(422, "Invalid")
        meta = self.jobs[name]["metadata"]
        for key, value in body.get("metadata", {}).get("annotations", {}).items():
            if value is None:
                (meta.get("annotations") or {}).pop(key, None)
            else:
                meta.setdefault("annotations", {})[key] = value
        self.jobs[name]["spec"]["suspend"] = False
        await self._event("MODIFIED", self.jobs[name])
        return web.json_response(self.jobs[name])

    async def _delete_job(self, _request: web.Request, name: str, body: Any) -> web.StreamResponse:
        if name not in self.jobs:
            return _status(404, "NotFound")
        self.jobs[name]["metadata"]["deletionTimestamp"] = TIME
        await self._event("MODIFIED", self.jobs[name])
        return web.json_response(self.jobs[name])


def _selector(text: str) -> dict[str, str]:
    return dict(term.split("=", 1) for term in text.split(",") if term)


def _status(code: int, reason: str, message: str | None = None) -> web.Response:
    return web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason,
                              "message": message or reason, "code": code}, status=code)
