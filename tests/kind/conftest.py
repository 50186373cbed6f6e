"""Fixtures for the cluster backend's tests that run without a cluster.

- ``tool_dir``: a directory of tiny executables standing in for ``docker``/``kind``/``istioctl``
  (detection tests only: they print what the real tools print and exit with their exit codes, and run
  through the real subprocess path). ``PATH`` is set to that directory alone.
- ``kube_api``: a hand-written HTTP server on 127.0.0.1 that speaks just enough of the Kubernetes API
  (discovery, server-side apply, get, list, delete) to reach the one thing the real API server of the
  ``apiserver`` tier cannot show without a kubelet: the **exec stream**. Its ``pods/NAME/exec`` endpoint
  answers over a real WebSocket in Kubernetes' v4 channel protocol (stdout, stderr, exit status), so
  tests/kind/test_exec.py checks the framing and what fortio/pilot-agent output becomes. Everything else
  (apply, re-apply, conflicts, delete, cleanup, rollback, CRDs, the context guard) is tested against a real
  kube-apiserver in tests/apiserver/; do not add such tests here.
- ``write_kubeconfig``: writes a real kubeconfig file (several contexts) for the real config loader.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

# -- fake CLIs for detection ---------------------------------------------------------------------------------

#: What the real tools print (docker 28.2.2, kind v0.29.0, istioctl 1.27.1), by scenario.
DOCKER_DAEMON_DOWN = """#!/bin/sh
# docker 28.x without a daemon: `docker info` prints the client part, then this on stderr, exit 1
if [ "$1" = "info" ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
if [ "$1" = "--version" ]; then echo "Docker version 28.2.2, build e6534b4"; exit 0; fi
exit 1
"""
DOCKER_DAEMON_UP = """#!/bin/sh
if [ "$1" = "info" ]; then echo "28.2.2"; exit 0; fi
if [ "$1" = "--version" ]; then echo "Docker version 28.2.2, build e6534b4"; exit 0; fi
exit 1
"""
DOCKER_PERMISSION_DENIED = """#!/bin/sh
if [ "$1" = "info" ]; then
  printf '%s%s\\n' "permission denied while trying to connect to the Docker daemon socket at " \\
    "unix:///var/run/docker.sock: connect: permission denied" >&2
  exit 1
fi
exit 1
"""
DOCKER_HANGS = """#!/bin/sh
exec /bin/sleep 30
"""
KIND_OK = """#!/bin/sh
if [ "$1" = "version" ]; then echo "kind v0.29.0 go1.24.2 linux/amd64"; exit 0; fi
if [ "$1" = "get" ] && [ "$2" = "clusters" ]; then echo "No kind clusters found." >&2; exit 0; fi
exit 1
"""
KIND_BROKEN = """#!/bin/sh
echo "kind: cannot execute binary file: Exec format error" >&2
exit 126
"""
ISTIOCTL_OK = """#!/bin/sh
if [ "$1" = "version" ]; then echo "client version: 1.27.1"; exit 0; fi
exit 1
"""


#: Scenario name -> script, for ``tool_dir.add(tool, scenario)`` (test modules cannot import conftest).
SCRIPTS = {
    "docker:daemon-down": DOCKER_DAEMON_DOWN,
    "docker:daemon-up": DOCKER_DAEMON_UP,
    "docker:permission-denied": DOCKER_PERMISSION_DENIED,
    "docker:hangs": DOCKER_HANGS,
    "kind:ok": KIND_OK,
    "kind:broken": KIND_BROKEN,
    "istioctl:ok": ISTIOCTL_OK,
}


@dataclass
class ToolDir:
    """A PATH directory of stand-in executables."""

    path: Path
    calls: Path

    def add(self, name: str, scenario: str) -> Path:
        """Install ``name`` behaving as in ``scenario`` (a key of SCRIPTS, e.g. "daemon-down")."""
        script = SCRIPTS[f"{name}:{scenario}"]
        exe = self.path / name
        # Each stand-in appends its argv to a log first, so tests can prove a tool was (not) run.
        lines = script.splitlines()
        logged = "\n".join([lines[0], f'echo "{name} $*" >> "{self.calls}"', *lines[1:]]) + "\n"
        exe.write_text(logged)
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return exe

    def add_replacing(self, name: str, scenario: str) -> Path:
        (self.path / name).unlink()
        return self.add(name, scenario)

    def link(self, name: str, target: str) -> None:
        (self.path / name).symlink_to(target)

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def tool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToolDir:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return ToolDir(bin_dir, tmp_path / "calls.log")


# -- kubeconfig ----------------------------------------------------------------------------------------------

def kubeconfig_dict(contexts: dict[str, str], current: str | None = None,
                    token: str = "lab-test-token") -> dict:
    """A kubeconfig with one cluster+user per context: {context_name: server_url}."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": f"{n}-cluster", "cluster": {"server": url}} for n, url in contexts.items()],
        "users": [{"name": f"{n}-user", "user": {"token": token}} for n in contexts],
        "contexts": [{"name": n, "context": {"cluster": f"{n}-cluster", "user": f"{n}-user"}}
                     for n in contexts],
        "current-context": current or next(iter(contexts)),
    }


@pytest.fixture
def write_kubeconfig(tmp_path: Path):
    def write(contexts: dict[str, str], current: str | None = None, name: str = "kubeconfig") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(kubeconfig_dict(contexts, current)))
        return path

    return write


# -- a local Kubernetes API ----------------------------------------------------------------------------------

def _res(name: str, kind: str, namespaced: bool = True, short: tuple[str, ...] = ()) -> dict:
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": list(short)}


_ISTIO = [_res("virtualservices", "VirtualService", short=("vs",)),
          _res("destinationrules", "DestinationRule", short=("dr",)),
          _res("gateways", "Gateway", short=("gw",)), _res("serviceentries", "ServiceEntry", short=("se",)),
          _res("sidecars", "Sidecar")]
#: groupVersion -> APIResourceList.resources, as a 1.33 API server with Istio 1.27 CRDs answers.
RESOURCES: dict[str, list[dict]] = {
    "v1": [_res("pods", "Pod", short=("po",)), _res("pods/exec", "PodExecOptions"),
           _res("pods/status", "Pod"), _res("services", "Service", short=("svc",)),
           _res("configmaps", "ConfigMap", short=("cm",)),
           _res("serviceaccounts", "ServiceAccount", short=("sa",)),
           _res("namespaces", "Namespace", namespaced=False, short=("ns",))],
    "apps/v1": [_res("deployments", "Deployment", short=("deploy",)),
                _res("deployments/status", "Deployment"),
                _res("statefulsets", "StatefulSet", short=("sts",)), _res("replicasets", "ReplicaSet")],
    "networking.istio.io/v1": _ISTIO,
    "networking.istio.io/v1beta1": _ISTIO,
    "networking.istio.io/v1alpha3": _ISTIO,
}
_KIND_BY_PLURAL = {(gv, r["name"]): r for gv, rs in RESOURCES.items() for r in rs}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any
    authorization: str
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)


#: What a container answers to an exec: (stdout, stderr, exit code).
ExecReply = tuple[str, str, int]


@dataclass
class KubeAPI:
    """State of the local API server: objects by (groupVersion-less group, plural, namespace, name).

    ``exec_replies`` maps (pod, container, command[0], command[1:]…) prefixes to what the command "prints":
    the exec endpoint streams it back over a real WebSocket in Kubernetes' v4 channel protocol. A list of
    replies is answered in order (the last one repeats). ``logs`` maps (pod, container) to what
    ``pods/NAME/log`` returns (``kubectl logs``), or to a function called at request time that returns it.
    """

    url: str = ""
    objects: dict[tuple[str, str, str | None, str], dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    exec_replies: dict[tuple[str, ...], ExecReply | list[ExecReply]] = field(default_factory=dict)
    logs: dict[tuple[str, str], str | Callable[[], str]] = field(default_factory=dict)
    #: what ``/version`` answers (major, minor)
    version: tuple[str, str] = ("1", "33")
    #: groupVersions served (drop the networking.istio.io ones for "a cluster without Istio")
    served: dict[str, list[dict]] = field(default_factory=lambda: dict(RESOURCES))

    def reply_for(self, pod: str, container: str, command: list[str]) -> ExecReply:
        key = (pod, container, *command)
        best = max((k for k in self.exec_replies if key[:len(k)] == k), key=len, default=None)
        if best is None:
            return "", f"exec: no reply recorded for {' '.join(command)}\n", 127
        reply = self.exec_replies[best]
        if isinstance(reply, list):
            return reply.pop(0) if len(reply) > 1 else reply[0]
        return reply

    def execs(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/exec")]

    def add(self, body: dict) -> None:
        """Put an object in the store directly (as if someone else created it)."""
        api_version, kind = body["apiVersion"], body["kind"]
        plural = next(r["name"] for (gv, _), r in _KIND_BY_PLURAL.items()
                      if gv == api_version and r["kind"] == kind and "/" not in r["name"])
        meta = body["metadata"]
        ns = meta.get("namespace", "default") if kind != "Namespace" else None
        if ns:
            meta["namespace"] = ns
        self.objects[(_group(api_version), plural, ns, meta["name"])] = copy.deepcopy(body)

    def names(self, kind: str | None = None) -> list[str]:
        return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in self.objects.values()
                      if kind is None or o["kind"] == kind)

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")]


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _merge(old: dict, new: dict) -> dict:
    out = copy.deepcopy(old)
    for k, v in new.items():
        both = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = _merge(out[k], v) if both else copy.deepcopy(v)
    return out


def _simulate_controllers(obj: dict) -> None:
    """What the real controllers would report once the images are local: Deployments available, Pods Ready."""
    if obj["kind"] == "Deployment":
        n = obj.get("spec", {}).get("replicas", 1)
        obj["metadata"]["generation"] = 1
        obj["status"] = {"observedGeneration": 1, "replicas": n, "updatedReplicas": n, "readyReplicas": n,
                         "availableReplicas": n}
    elif obj["kind"] == "Pod":
        obj["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


def _make_handler(api: KubeAPI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, doc: Any) -> None:
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _frame(self, payload: bytes, opcode: int = 2) -> None:
            """One unmasked server frame (RFC 6455 §5.2)."""
            head = bytes([0x80 | opcode])
            n = len(payload)
            if n < 126:
                head += bytes([n])
            elif n < 65536:
                head += bytes([126]) + struct.pack("!H", n)
            else:
                head += bytes([127]) + struct.pack("!Q", n)
            self.wfile.write(head + payload)

        def _exec(self, req: Request) -> None:
            """``pods/NAME/exec`` over a WebSocket: channel 1 stdout, 2 stderr, 3 the exit status."""
            seg = req.path.strip("/").split("/")
            pod = seg[seg.index("pods") + 1]
            container = (req.query.get("container") or [""])[0]
            stdout, stderr, code = api.reply_for(pod, container, req.query.get("command", []))
            accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] +
                                                    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                             b"\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n")
            if stderr:
                self._frame(b"\x02" + stderr.encode())
            data = stdout.encode()
            for i in range(0, len(data), 1000):  # several frames, as a long stdout arrives
                self._frame(b"\x01" + data[i:i + 1000])
            if code == 0:
                status = {"metadata": {}, "status": "Success"}
            else:
                status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                          "message": f"command terminated with non-zero exit code: {code}",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            self._frame(b"\x03" + json.dumps(status).encode())
            self._frame(struct.pack("!H", 1000), opcode=8)
            self.wfile.flush()
            self.close_connection = True

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = yaml.safe_load(raw) if raw else None
            req = Request(self.command, parts.path, parse_qs(parts.query),
                          self.headers.get("Content-Type", ""), body, self.headers.get("Authorization", ""))
            if self.headers.get("Upgrade", "").lower() == "websocket" and parts.path.endswith("/exec"):
                with api.lock:
                    api.requests.append(req)
                self._exec(req)
                return
            with api.lock:
                api.requests.append(req)
                if parts.path.endswith("/log"):  # pods/NAME/log: plain text, like the real endpoint
                    seg = parts.path.strip("/").split("/")
                    container = (req.query.get("container") or [""])[0]
                    log = api.logs.get((seg[-2], container), "")
                    text = (log() if callable(log) else log).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                code, doc = self._route(req)
            self._send(code, doc)

        do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _handle

        def _route(self, req: Request) -> tuple[int, Any]:
            path = req.path.rstrip("/")
            if path == "/version":
                major, minor = api.version
                return 200, {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor.rstrip('+')}.1",
                             "platform": "linux/amd64"}
            if path == "/api":
                return 200, {"kind": "APIVersions", "versions": ["v1"]}
            if path == "/apis":
                groups = {}
                for gv in api.served:
                    if "/" in gv:
                        g, v = gv.split("/")
                        groups.setdefault(g, []).append({"groupVersion": gv, "version": v})
                return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                    {"name": g, "versions": vs, "preferredVersion": vs[0]} for g, vs in groups.items()]}
            seg = path.strip("/").split("/")
            if seg[0] == "api":
                gv, rest = "v1", seg[2:]
            elif seg[0] == "apis" and len(seg) >= 3:
                gv, rest = f"{seg[1]}/{seg[2]}", seg[3:]
            else:
                return 404, _status(404, "NotFound", f"the server could not find {path}")
            if gv not in api.served:
                return 404, _status(404, "NotFound", f"no such group version {gv}")
            if not rest:
                return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                             "resources": api.served[gv]}
            ns = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                ns, rest = rest[1], rest[2:]
            plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
            if (gv, plural) not in _KIND_BY_PLURAL:
                return 404, _status(404, "NotFound", f"the server could not find {path}")
            kind = _KIND_BY_PLURAL[(gv, plural)]["kind"]
            key = (_group(gv), plural, ns, name)
            if req.method == "GET" and name is None:
                selector = (req.query.get("labelSelector") or [""])[0]
                want = dict(s.split("=", 1) for s in selector.split(",") if "=" in s)
                items = []
                for (g, p, o_ns, _), obj in api.objects.items():
                    if g != _group(gv) or p != plural or (ns is not None and o_ns != ns):
                        continue
                    labels = obj["metadata"].get("labels") or {}
                    if all(labels.get(k) == v for k, v in want.items()):
                        item = copy.deepcopy(obj)
                        # Items of a List carry no kind/apiVersion, as on a real server.
                        item.pop("apiVersion", None)
                        item.pop("kind", None)
                        items.append(item)
                return 200, {"kind": f"{kind}List", "apiVersion": gv, "metadata": {"resourceVersion": "1"},
                             "items": items}
            if req.method == "GET":
                obj = api.objects.get(key)
                if obj is None:
                    return 404, _status(404, "NotFound", f'{plural}.{_group(gv)} "{name}" not found')
                return 200, obj
            if req.method == "PATCH":
                if req.content_type != "application/apply-patch+yaml":
                    return 415, _status(415, "UnsupportedMediaType", f"unsupported {req.content_type}")
                if not (req.query.get("fieldManager") or [""])[0]:
                    return 422, _status(422, "Invalid", "fieldManager is required for apply requests")
                doc = req.body or {}
                if doc.get("kind") != kind or doc.get("metadata", {}).get("name") != name:
                    return 400, _status(400, "BadRequest", "body kind/name does not match the URL")
                if doc.get("spec", {}).get("host") == "reject.me":  # a hook to test server-side rejection
                    return 422, _status(422, "Invalid", f'{kind}.{_group(gv)} "{name}" is invalid: spec.host')
                obj = _merge(api.objects.get(key, {}), doc)
                obj["apiVersion"] = gv
                if ns:
                    obj["metadata"]["namespace"] = ns
                _simulate_controllers(obj)
                if (req.query.get("dryRun") or [""])[0] != "All":
                    api.objects[key] = obj
                return 200, obj
            if req.method == "DELETE":
                if key not in api.objects:
                    return 404, _status(404, "NotFound", f'{plural}.{_group(gv)} "{name}" not found')
                del api.objects[key]
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
            return 405, _status(405, "MethodNotAllowed", req.method)

    return Handler


@pytest.fixture
def kube_api() -> Iterator[KubeAPI]:
    api = KubeAPI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="kube-api", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$LABLIB_HOME`` in a temp dir, and no allow-list from the environment."""
    home = tmp_path / "lablib-home"
    monkeypatch.setenv("LABLIB_HOME", str(home))
    monkeypatch.delenv("LABLIB_ALLOW_CONTEXTS", raising=False)
    monkeypatch.delenv("LABLIB_CONTEXT", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return home
