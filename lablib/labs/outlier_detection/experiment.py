"""One outlier-detection experiment as a notebook step: heal, apply a fresh rule, fail some pods, watch.

``experiment()`` is what each step of lab 02 calls: it makes every run start from the same state (all pods
healthy, a freshly applied rule, so no ejection carries over from the previous step), turns the chosen
faults on while load runs, optionally heals them, and stops once the point was seen (``stop_after``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lablib._types import PathLike
from lablib.i18n import t
from lablib.lab_defaults import MANIFESTS
from lablib.labs.outlier_detection.observer import DEFAULT_CLUSTER, Action, watch
from lablib.labs.outlier_detection.rule import OutlierSettings, write_rule
from lablib.labs.outlier_detection.timeline import EventKind, Timeline

if TYPE_CHECKING:
    from lablib.lab import Lab

__all__ = ["MANIFESTS", "PODS", "Fault", "experiment", "heal", "host_names", "processes", "stop_after"]

#: The book's manifests (kubernetes/, service/go/, istio/route/, istio/resilience/) in this repository.
#: The two service-go Deployments of manifests/service/go/service-go.yaml.
PODS = ("service-go-v1", "service-go-v2")


@dataclass(frozen=True)
class Fault:
    """Make ``target`` (a pod or Deployment) answer ``code`` for ``fraction`` of its calls."""

    target: str = "service-go-v1"
    code: int = 503
    fraction: float = 1.0

    def __str__(self) -> str:
        return f"{self.target} → {self.code} ×{self.fraction:g}"


def heal(lab: Lab, targets: Sequence[str] = PODS) -> None:
    """Turn every fault off (service-go ``POST /fault`` with fraction 0)."""
    for target in targets:
        lab.set_fault(target, code=503, fraction=0.0)


def host_names(lab: Lab) -> dict[str, str]:
    """``{"127.0.0.1:PORT": pod name}`` for the plot's row labels (empty when the backend cannot tell)."""
    backend = getattr(lab, "backend", lab)
    pods_fn = getattr(backend, "pods", None)
    if not callable(pods_fn):
        return {}
    with contextlib.suppress(Exception):
        return {f"127.0.0.1:{p.port}": name for name, p in pods_fn().items()}
    return {}


def processes(lab: Lab) -> list[Any]:
    """Records (``.pid``, ``.role``, ``.alive()``) of every process the lab runs, for the cleanup check."""
    fn = getattr(getattr(lab, "backend", lab), "processes", None)
    if not callable(fn):
        return []
    with contextlib.suppress(Exception):
        return list(fn())
    return []


def stop_after(kind: EventKind, *, count: int = 1, plus_s: float = 1.0) -> Callable[[Timeline], bool]:
    """A ``watch(until=…)`` condition: ``count`` events of ``kind`` seen, then ``plus_s`` more seconds."""

    def done(tl: Timeline) -> bool:
        events = tl.events(kind)
        if len(events) < count or not tl.hosts:
            return False
        return tl.hosts[-1].t >= events[count - 1].t + plus_s

    return done


def experiment(lab: Lab, settings: OutlierSettings | None, *, rule_path: PathLike,
               faults: Sequence[Fault] = (Fault(),), duration_s: float = 10.0, fault_at_s: float = 0.5,
               heal_at_s: float | None = None, until: Callable[[Timeline], bool] | None = None,
               qps: float = 40.0, connections: int = 2, cluster: str = DEFAULT_CLUSTER,
               comment: str = "", lang: str = "en") -> Timeline:
    """Heal all pods, apply ``settings`` as a fresh DestinationRule (None: no rule), fail ``faults``, watch.

    The previous rule at ``rule_path`` is deleted first so Envoy rebuilds the cluster: ejections and error
    counts from an earlier step do not leak into this one. Returns the timeline (marks: "fault …", "healed",
    in ``lang``).
    """

    path = Path(rule_path)
    heal(lab)
    if path.exists():
        with contextlib.suppress(Exception):
            lab.delete(path)
    if settings is not None:
        write_rule(path, settings, comment=comment)
        lab.apply(path)
    actions = [Action(fault_at_s, t("outlier.experiment.fault", lang, faults=", ".join(map(str, faults))),
                      lambda: [lab.set_fault(f.target, code=f.code, fraction=f.fraction) for f in faults])]
    if heal_at_s is not None:
        actions.append(Action(heal_at_s, t("outlier.experiment.healed", lang), lambda: heal(lab)))
    try:
        return watch(lab, duration_s=duration_s, cluster=cluster, qps=qps, connections=connections,
                     actions=actions, until=until)
    finally:
        heal(lab)
