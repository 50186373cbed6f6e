"""PURE: what the cluster backend would send, computed without a cluster.

Every request the backend makes is first built here as plain data (server-side-apply bodies, delete targets,
exec commands, CLI argv), so tests can assert on exactly what would go over the wire; ``backend.py``,
``_cluster.py`` and ``_api.py`` only execute these plans. Names follow kubectl/istioctl/fortio/Envoy.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lablib._exceptions import FortioUsageError, LabError
from lablib.i18n import Msg
from lablib.translate.proxy_config import PROXY_CONFIG_ANNOTATION, proxy_concurrency

__all__ = [
    "CLEANUP_KINDS",
    "FIELD_MANAGER",
    "LAB_LABEL",
    "PROTECTED_NAMESPACES",
    "ApplyRequest",
    "DeleteRequest",
    "ExecRequest",
    "admin_command",
    "app_container",
    "check_lab_name",
    "cleanup_kinds",
    "cleanup_selector",
    "docker_build_command",
    "fault_command",
    "fortio_command",
    "group_of",
    "injection_label_request",
    "is_client_pod",
    "is_ready",
    "istioctl_install_command",
    "istioctl_proxy_config_command",
    "kept_workers",
    "kind_create_command",
    "kind_delete_command",
    "kind_export_kubeconfig_command",
    "kind_load_command",
    "pick_pod",
    "plan_apply",
    "plan_delete",
    "pods_of_target",
    "select_for_cleanup",
    "service_go_image",
]

#: Every object the lab applies carries this label, with the lab's name as value; cleanup selects on it.
LAB_LABEL = "lablib.io/lab"
#: Server-side apply field manager (``kubectl apply --server-side --field-manager``).
FIELD_MANAGER = "lablib"
#: A separate manager for the namespace's injection label, so cleanup never owns (or deletes) the namespace.
INJECTION_FIELD_MANAGER = "lablib-injection"
#: Namespaces the lab never deletes, even if a manifest it applied named one of them.
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "istio-system",
                                  "local-path-storage"})
#: Kinds that are not namespaced (the rest get the lab's namespace when the manifest names none).
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole",
                                  "ClusterRoleBinding", "PersistentVolume", "StorageClass", "PriorityClass",
                                  "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"})
#: Kinds cleanup always lists (group, kind), in deletion order: routing first, then workloads, then services.
CLEANUP_KINDS: tuple[tuple[str, str], ...] = (
    ("networking.istio.io", "VirtualService"),
    ("networking.istio.io", "DestinationRule"),
    ("networking.istio.io", "Gateway"),
    ("networking.istio.io", "ServiceEntry"),
    ("networking.istio.io", "Sidecar"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("", "Pod"),
    ("", "Service"),
    ("", "ConfigMap"),
    ("", "ServiceAccount"),
)
# Creation order for one apply: what others depend on comes first (kubectl applies in file order, and would
# fail on a custom resource whose CRD comes later in the same file).
_APPLY_FIRST = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ConfigMap", "Secret")

FORTIO_BINARY = "/usr/bin/fortio"  # the image is FROM scratch: no shell, exec the binary itself
FORTIO_CONTAINER = "fortio"
SIDECAR_CONTAINER = "istio-proxy"
SERVICE_GO_REPOSITORY = "lablib/service-go"
FORTIO_IMAGE = "fortio/fortio:latest_release"
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


@dataclass(frozen=True)
class ApplyRequest:
    """One server-side apply: ``PATCH …?fieldManager=lablib&force=true`` with
    ``application/apply-patch+yaml``."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]
    field_manager: str = FIELD_MANAGER
    force_conflicts: bool = True

    @property
    def ref(self) -> str:
        """``Kind/name``, as kubectl prints it."""
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class DeleteRequest:
    """One delete (404 tolerated). ``propagation_policy`` Background lets Deployments take their Pods
    along."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    propagation_policy: str = "Background"

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ExecRequest:
    """``kubectl exec POD -n NS -c CONTAINER -- COMMAND…`` through the API's exec stream (no TTY, no
    stdin)."""

    pod: str
    namespace: str
    container: str
    command: list[str] = field(default_factory=list)

    def kubectl(self) -> str:
        """The equivalent kubectl command line, for messages and docs."""
        return (f"kubectl exec {self.pod} -n {self.namespace} -c {self.container} -- "
                + " ".join(shlex.quote(c) for c in self.command))


def _body_of(obj: Any) -> dict[str, Any]:
    body = getattr(obj, "body", obj)
    if not isinstance(body, Mapping):
        raise TypeError(f"expected a lablib.manifests.Manifest or a dict, got {type(obj).__name__}")
    return copy.deepcopy(dict(body))


def check_lab_name(lab: str) -> str:
    """The lab name is a label value and a kind cluster name: lowercase DNS label, at most 50 characters."""
    if not re.fullmatch(r"[a-z0-9](?:[-a-z0-9]{0,48}[a-z0-9])?", lab or ""):
        raise LabError(Msg("kind.plan.bad_lab_name", lab=lab))
    return lab


def plan_apply(objects: Iterable[Any], *, lab: str, namespace: str = "default") -> list[ApplyRequest]:
    """Server-side-apply requests for validated objects (``Manifest`` or dict), each labelled for cleanup.

    The label goes on the object itself (``metadata.labels``), not on pod templates: Pods a Deployment makes
    are
    deleted with it. Objects without a namespace get ``namespace``; ``status`` is never sent.
    """
    if not _LABEL_VALUE.match(lab):
        raise LabError(Msg("kind.plan.bad_label_value", lab=lab))
    requests: list[ApplyRequest] = []
    for obj in objects:
        body = _body_of(obj)
        body.pop("status", None)
        api_version, kind = body.get("apiVersion", ""), body.get("kind", "")
        meta = body.setdefault("metadata", {})
        name = meta.get("name", "")
        if not (api_version and kind and name):
            raise ValueError(f"object without apiVersion/kind/metadata.name: {body!r:.200}")
        ns: str | None = None
        if kind not in CLUSTER_SCOPED_KINDS:
            ns = meta.get("namespace") or namespace
            meta["namespace"] = ns
        labels = meta.get("labels") or {}
        meta["labels"] = {**labels, LAB_LABEL: lab}
        _default_port_protocols(body)
        requests.append(ApplyRequest(api_version, kind, name, ns, body))
    order = {k: i for i, k in enumerate(_APPLY_FIRST)}
    # A stable sort keeps the file's order among the rest, as kubectl does.
    return sorted(requests, key=lambda r: order.get(r.kind, len(order)))


def kept_workers(requests: Sequence[ApplyRequest], before: Sequence[Mapping[str, Any] | None]) -> list[str]:
    """The Pods of ``requests`` that already ran (``before``: what the API server had, None for a new object)
    and whose ``proxy.istio.io/config`` asks for other Envoy workers: the API server updates the annotation in
    place, and their sidecars keep the workers they started with (``lablib.backends.kept_workers``)."""
    kept = []
    for req, old in zip(requests, before, strict=True):
        if req.kind != "Pod" or not old:
            continue
        was = _concurrency((old.get("metadata") or {}).get("annotations"))
        now = _concurrency((req.body.get("metadata") or {}).get("annotations"))
        if was != now:
            kept.append(req.name)
    return kept


def _concurrency(annotations: Mapping[str, Any] | None) -> int | str | None:
    """The annotation's concurrency; one the validator would refuse (a live object edited by hand) compares
    by its text."""
    try:
        return proxy_concurrency(annotations)
    except LabError:
        return str((annotations or {}).get(PROXY_CONFIG_ANNOTATION))


def _default_port_protocols(body: dict[str, Any]) -> None:
    """Spell out ``protocol: TCP`` on Service and container ports, as the API server defaults it.

    ``protocol`` is part of the key of these lists; a Kubernetes 1.20 server answers a server-side apply that
    omits it with HTTP 500 (fixed in 1.21), so the plan never omits it.
    """
    spec = body.get("spec") or {}
    if body.get("kind") == "Service":
        port_lists = [spec.get("ports")]
    else:
        pod = spec if body.get("kind") == "Pod" else ((spec.get("template") or {}).get("spec") or {})
        port_lists = [c.get("ports") for key in ("initContainers", "containers")
                      for c in pod.get(key) or [] if isinstance(c, dict)]
    for ports in port_lists:
        for port in ports or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def plan_delete(objects: Iterable[Any], *, namespace: str = "default") -> list[DeleteRequest]:
    """Delete requests for the objects in a file (``kubectl delete -f``), in reverse apply order."""
    reqs = []
    for obj in objects:
        body = _body_of(obj)
        meta = body.get("metadata") or {}
        kind = body.get("kind", "")
        ns = None if kind in CLUSTER_SCOPED_KINDS else (meta.get("namespace") or namespace)
        if kind == "Namespace" and meta.get("name") in PROTECTED_NAMESPACES:
            continue
        reqs.append(DeleteRequest(body.get("apiVersion", ""), kind, meta.get("name", ""), ns))
    return list(reversed(reqs))


def injection_label_request(namespace: str) -> ApplyRequest:
    """``kubectl label namespace NS istio-injection=enabled`` as a server-side apply of its own manager.

    No lab label: the namespace was not created by the lab and cleanup must never select it.
    """
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"istio-injection": "enabled"}}}
    return ApplyRequest("v1", "Namespace", namespace, None, body, field_manager=INJECTION_FIELD_MANAGER)


# -- cleanup -------------------------------------------------------------------------------------------------
def cleanup_selector(lab: str) -> str:
    """The label selector cleanup lists with: ``lablib.io/lab=<lab>``."""
    return f"{LAB_LABEL}={lab}"


def cleanup_kinds(recorded: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(group, kind) pairs to list: the defaults, plus kinds the state file says were applied; Namespaces
    last."""
    kinds = list(CLEANUP_KINDS)
    for api_version, kind in recorded:
        gk = (group_of(api_version), kind)
        if gk not in kinds:
            kinds.insert(len(kinds), gk)
    return sorted(kinds, key=lambda gk: gk[1] == "Namespace")


def select_for_cleanup(items: Iterable[Mapping[str, Any]], *, lab: str) -> list[DeleteRequest]:
    """The objects cleanup deletes, from listed objects: those labelled for *this* lab, never a protected
    namespace, and not Pods that an owner (a ReplicaSet) will take along."""
    out: list[DeleteRequest] = []
    for item in items:
        meta = item.get("metadata") or {}
        if (meta.get("labels") or {}).get(LAB_LABEL) != lab:
            continue
        kind = item.get("kind", "")
        if kind == "Namespace" and meta.get("name") in PROTECTED_NAMESPACES:
            continue
        if kind == "Pod" and meta.get("ownerReferences"):
            continue
        if meta.get("deletionTimestamp"):
            continue  # already going
        out.append(DeleteRequest(item.get("apiVersion", ""), kind, meta.get("name", ""),
                                 meta.get("namespace")))
    return out


# -- readiness and pods --------------------------------------------------------------------------------------
def is_ready(obj: Mapping[str, Any]) -> bool:
    """Whether a Deployment (all replicas available, rollout observed) or a Pod (Running, every container
    ready, sidecar included) is ready; other kinds are ready once they exist."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind == "Deployment":
        want = (obj.get("spec") or {}).get("replicas", 1)
        gen = (obj.get("metadata") or {}).get("generation", 0)
        return (status.get("observedGeneration", 0) >= gen and status.get("updatedReplicas", 0) >= want
                and status.get("availableReplicas", 0) >= want)
    if kind == "Pod":
        if status.get("phase") != "Running":
            return False
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        return conds.get("Ready") == "True"
    return True


def pick_pod(pods: Iterable[Mapping[str, Any]], *, app: str = "fortio",
             container: str = FORTIO_CONTAINER) -> str | None:
    """Name of a Running, not-terminating pod labelled ``app=<app>`` that has ``container`` (like
    ``kubectl get pods -l app=fortio -o jsonpath={.items[0].metadata.name}``, but only a usable one)."""
    candidates = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get("app") != app or meta.get("deletionTimestamp"):
            continue
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container not in names or (pod.get("status") or {}).get("phase") != "Running":
            continue
        candidates.append((not is_ready(pod), meta.get("creationTimestamp", ""), meta.get("name", "")))
    # Ready pods first, newest first among equals (RFC 3339 timestamps sort as strings).
    candidates.sort(key=lambda c: c[1], reverse=True)
    candidates.sort(key=lambda c: c[0])
    return candidates[0][2] if candidates else None


# -- exec commands -------------------------------------------------------------------------------------------
def _takes_value(flag: str) -> bool | None:
    """Whether fortio's ``-flag`` takes a value (Go's flag package: booleans never take a separate one);
    None when the flag is not in lablib.fortio's table (real fortio has more flags than the emulator)."""
    try:
        from lablib.fortio.flags import FLAGS
    except ImportError:  # pragma: no cover - lablib.fortio is part of the package
        return None
    known = FLAGS.get(flag)
    return None if known is None else known.kind != "bool"


def fortio_command(args: str | Sequence[str]) -> list[str]:
    """``/usr/bin/fortio load … -json - URL`` from ``fortio load`` arguments (a string or argv).

    A leading ``fortio``/``/usr/bin/fortio``/``load`` is dropped; a ``-json`` the user gave is replaced so
    stdout carries only the JSON result (the summary text stays on stderr). Flags are read as Go's flag
    package reads them (the URL is the first argument that is not a flag or a flag's value). ``-curl`` runs
    keep their text output.
    """
    argv = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
    while argv and argv[0] in ("fortio", FORTIO_BINARY, "/usr/local/bin/fortio", "load"):
        argv = argv[1:]
    flags: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--"):
        name, eq, _ = argv[i].lstrip("-").partition("=")
        takes = _takes_value(name)
        if takes is None:  # unknown: a value follows unless the next word is a flag or the last word
            takes = i + 2 < len(argv) and not argv[i + 1].startswith("-")
        width = 2 if takes and not eq else 1
        if name != "json":
            flags += argv[i:i + width]
        i += width
    if i < len(argv) and argv[i] == "--":
        i += 1
    rest = argv[i:]
    if len(rest) != 1:
        if rest:
            raise FortioUsageError(Msg("kind.plan.fortio_one_url", got=" ".join(rest)))
        raise FortioUsageError(Msg("kind.plan.fortio_no_url"))
    if "curl" in {f.lstrip("-").partition("=")[0] for f in flags}:
        return [FORTIO_BINARY, "load", *flags, rest[0]]
    return [FORTIO_BINARY, "load", *flags, "-json", "-", rest[0]]


def admin_command(method: str, path: str) -> list[str]:
    """``pilot-agent request METHOD PATH``: the sidecar's Envoy admin API from inside the pod."""
    return ["pilot-agent", "request", method.upper(), path.lstrip("/")]


# -- CLI commands --------------------------------------------------------------------------------------------
def kind_create_command(name: str, config: Path, kubeconfig: Path, *, wait: str = "180s") -> list[str]:
    return ["kind", "create", "cluster", "--name", name, "--config", str(config),
            "--kubeconfig", str(kubeconfig), "--wait", wait]


def kind_export_kubeconfig_command(name: str, kubeconfig: Path) -> list[str]:
    return ["kind", "export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig)]


def kind_delete_command(name: str, kubeconfig: Path) -> list[str]:
    return ["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)]


def kind_load_command(image: str, name: str) -> list[str]:
    return ["kind", "load", "docker-image", image, "--name", name]


def service_go_image(version: str) -> str:
    return f"{SERVICE_GO_REPOSITORY}:{version}"


def docker_build_command(version: str, repo_root: Path) -> list[str]:
    """``docker build`` of service-go from our own code (context = repo root)."""
    return ["docker", "build", "-t", service_go_image(version), "--build-arg", f"VERSION={version}",
            "-f", str(repo_root / "docker" / "service-go" / "Dockerfile"), str(repo_root)]


def istioctl_install_command(kubeconfig: Path | None, context: str, *, profile: str = "minimal") -> list[str]:
    """``istioctl install``: istiod only (``minimal``) is all the sidecars need; ``demo`` adds gateways.
    Sidecars print Istio's text access log on stdout (``responses()``/``explain()`` read it)."""
    argv = ["istioctl", "install", "--set", f"profile={profile}", "--set",
            "meshConfig.accessLogFile=/dev/stdout", "-y", "--context", context]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    return argv


def istioctl_proxy_config_command(what: str, pod: str, namespace: str, kubeconfig: Path | None,
                                  context: str) -> list[str]:
    """``istioctl proxy-config cluster POD.NS -o yaml`` (or ``route``, ``listener``, ``endpoint``)."""
    argv = ["istioctl", "proxy-config", what, f"{pod}.{namespace}", "-o", "yaml", "--context", context]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    return argv


# -- the app's fault knob and per-pod targets ---------------------------------------------------------------
_FAULT_SCRIPT = ("import sys, urllib.request as u; "
                 "r = u.urlopen(u.Request(sys.argv[1], data=sys.argv[2].encode(), method='POST', "
                 "headers={'Content-Type': 'application/json'}), timeout=10); "
                 "print(r.read().decode())")


def fault_command(code: int, fraction: float, delay_ms: float = 0.0, *, seed: int | None = None,
                  port: int = 80) -> list[str]:
    """service-go's ``POST /fault`` from inside its own container (it takes the knob only from loopback),
    with the image's Python: ``kubectl exec POD -c service-go -- python -c … http://127.0.0.1/fault BODY``."""
    import json

    fault: dict[str, Any] = {"code": int(code), "fraction": float(fraction), "delay_ms": float(delay_ms)}
    if seed is not None:
        fault["seed"] = int(seed)
    body = json.dumps(fault)
    return ["python", "-c", _FAULT_SCRIPT, f"http://127.0.0.1:{port}/fault", body]


def app_container(pod: Mapping[str, Any]) -> str | None:
    """The pod's application container: the first that is not the sidecar."""
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    return next((n for n in names if n and n != SIDECAR_CONTAINER), None)


def pods_of_target(pods: Iterable[Mapping[str, Any]], target: str) -> list[str]:
    """Names of the live pods ``target`` means: the pod of that name, or every pod of Deployment ``target``
    (its ReplicaSets are named ``<deployment>-<pod-template-hash>``)."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        name = meta.get("name", "")
        rs = f"{target}-{(meta.get('labels') or {}).get('pod-template-hash', '')}"
        owners = [o.get("name") for o in meta.get("ownerReferences") or [] if o.get("kind") == "ReplicaSet"]
        if name == target or rs in owners:
            out.append(name)
    return sorted(out)


def is_client_pod(pod: str) -> bool:
    """Whether ``pod`` is a fortio (client) pod: ``fortio``, ``fortio-2``, or a pod of Deployment ``fortio…``;
    its sidecar's clusters of interest are ``outbound|``, a server's ``inbound|``."""
    return pod == FORTIO_CONTAINER or pod.startswith(f"{FORTIO_CONTAINER}-")
