"""Environment presets: the published circuit-breaking runs as environments the embedded lab can play.

A published 503 share is a property of a rule *and* of the environment it ran in (docs/reference/
published-experiments.md): the service's time per call, the sidecar's workers and how its listener spreads
connections over them (``reuse_port``), mTLS with a handshake per connection, and how much CPU the client
(fortio and its sidecar) had. An :class:`Environment` names each factor the lab can set, next to the rule,
fortio's flags and the published numbers, so a notebook or a benchmark runs "the Istio task" or "the book"
and compares like with like. Pure data: ``Lab(**env.lab_options())`` starts it, ``client_cpu`` pins
the client.

    env = preset("istio-task")
    with Lab(**env.lab_options()) as lab:
        lab.apply(env.rule_path()); ...; lab.fortio(env.fortio_args(3))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lablib._exceptions import LabError
from lablib.i18n import Msg, t
from lablib.lab_defaults import MANIFESTS, PUBLISHED, SERVICE_TIME_MS, WORKERS

__all__ = ["MANIFESTS", "PRESETS", "PUBLISHED_DIR", "Environment", "preset"]

#: Real fortio outputs of the published runs, shipped with the package (read with ``lablib.fortio``).
PUBLISHED_DIR: Final = PUBLISHED
#: The repository's manifests (the book's layout): the rules and ``service/go/service-go.yaml``.



@dataclass(frozen=True)
class Environment:
    """Where a circuit-breaking run happens: every factor the lab can set, and what was published.

    Attributes:
        name: the preset's name (``istio-task``, ``book``).
        rule: the DestinationRule manifest, relative to the repository's ``manifests/``.
        service: the service's manifest there (one pod for the task's httpbin, two for the book's service-go:
            Envoy keeps a connection pool per worker per endpoint).
        service_time_ms: the app's time per call (httpbin ~1 ms; the book's service-go ~25 ms).
        workers: Envoy worker threads per sidecar (``proxy.istio.io/config`` concurrency; Istio's default 2).
        mtls: Istio's auto mTLS between sidecars (on by default since Istio 1.5).
        reuse_port: the client sidecar's listeners use ``reuse_port`` (Envoy >= 1.20's default).
        client_cpus: pin fortio and the client sidecar to this many CPUs (None: not pinned); the book's client
            node had 1 CPU (``1->1 procs`` in its fortio output).
        calls_per_thread: fortio's ``-n`` is this times ``-c`` (both publications ran ``-n 10c``).
        loglevel: fortio's ``-loglevel`` (the task ran Warning, one stderr line per 503; the book Error).
        published: ``-c`` -> the published 503 share (0..1).
        published_files: ``-c`` -> the published fortio output in :data:`PUBLISHED_DIR`.
        source: where the published numbers come from.
    """

    name: str
    rule: str
    service_time_ms: float
    service: str = "service/go/service-go.yaml"
    workers: int = WORKERS
    mtls: bool = True
    reuse_port: bool = True
    client_cpus: int | None = None
    calls_per_thread: int = 10
    loglevel: str = "Error"
    published: dict[int, float] = field(default_factory=dict)
    published_files: dict[int, str] = field(default_factory=dict)
    source: str = ""

    def lab_options(self) -> dict[str, Any]:
        """Keyword arguments of ``Lab()`` / ``MeshBackend()`` for this environment."""
        return {"workers": self.workers, "service_time_ms": self.service_time_ms, "mtls": self.mtls,
                "reuse_port": self.reuse_port}

    def theory_options(self, handshake_time_s: float) -> dict[str, Any]:
        """What ``lablib.theory.simulate`` / ``band_for_run`` take from this environment: its workers, and the
        mTLS handshake per new upstream connection when mTLS is on (``handshake_time_s``: measured on this
        machine, e.g. the hold per 200 with mTLS minus without; 0 with plaintext)."""
        return {"workers": self.workers, "handshake_time_s": handshake_time_s if self.mtls else 0.0}

    def rule_path(self, manifests: Path | None = None) -> Path:
        """The rule's manifest file (in the repository's ``manifests/`` unless ``manifests`` is given)."""
        return (manifests or MANIFESTS) / self.rule

    def service_path(self, manifests: Path | None = None) -> Path:
        """The service's manifest file (Service + Deployments)."""
        return (manifests or MANIFESTS) / self.service

    def fortio_args(self, c: int, url: str = "http://service-go/env") -> str:
        """``load -c C -qps 0 -n N -loglevel L URL`` as the publication ran it."""
        if c < 1:
            raise LabError(Msg("presets.fortio_c", c=c))
        return f"load -c {c} -qps 0 -n {self.calls_per_thread * c} -loglevel {self.loglevel} {url}"

    def published_file(self, c: int) -> Path:
        """The published fortio output for ``-c c``; LabError if none was published."""
        if c not in self.published_files:
            known = [str(k) for k in sorted(self.published_files)] or Msg("presets.none")
            raise LabError(Msg("presets.no_published", name=self.name, c=c, known=known))
        return PUBLISHED_DIR / self.published_files[c]

    def with_(self, **changes: Any) -> Environment:
        """The same environment with some factors changed (``env.with_(workers=1, mtls=False)``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise LabError(Msg("presets.unknown_factor", unknown=sorted(unknown),
                               known=[f.name for f in dataclasses.fields(self)]))
        return dataclasses.replace(self, **changes)

    def describe(self, lang: str = "en") -> str:
        """One line naming every factor, for tables and logs (in ``lang`` for a notebook)."""
        pin = (t("presets.pinned", lang, cpus=self.client_cpus) if self.client_cpus
               else t("presets.unpinned", lang))
        on = {True: t("presets.on", lang), False: t("presets.off", lang)}
        return t("presets.describe", lang, name=self.name, ms=self.service_time_ms, workers=self.workers,
                 mtls=on[self.mtls], reuse_port=on[self.reuse_port], pin=pin)


PRESETS: Final[dict[str, Environment]] = {
    # istio.io "Circuit Breaking" task: one httpbin pod, DR maxConnections 1 / pending 1 /
    # maxRequestsPerConnection 1 (its outlierDetection left out: see the manifest), `fortio load -c 2 -n 20`
    # then `-c 3 -n 30` with -loglevel Warning; today's Istio (2 workers, auto mTLS).
    "istio-task": Environment(
        name="istio-task", rule="istio/resilience/destination-rule-go-istio-task-pool.yaml",
        service="service/go/service-go-single.yaml", service_time_ms=1.0,
        loglevel="Warning", published={2: 3 / 20, 3: 19 / 30},
        published_files={3: "fortio-1.3-text-istio-task-c3-n30.txt"},
        source="istio.io tasks/traffic-management/circuit-breaking (fortio 1.3.1 output)"),
    # 《Istio 入门与实战》 (mgxian/istio-lab): DR maxConnections 10 / pending 10, fortio 1.0.1 `-n 10c`,
    # service-go at ~25 ms per call; its environment as the sources give it (published-experiments.md §1.2,
    # §3, §4): a 1-CPU client node (fortio printed `1->1 procs`), so one Envoy worker (Istio 1.0 ran one per
    # CPU), and no auto mTLS (Istio 1.0; on by default from 1.5).
    "book": Environment(
        name="book", rule="istio/resilience/destination-rule-go-cb-pending.yaml",
        service_time_ms=SERVICE_TIME_MS,
        workers=1, mtls=False, client_cpus=1,
        published={20: 8 / 200, 30: 96 / 300, 40: 160 / 400},
        published_files={c: f"seed-fortio-1.0.1-c{c}-n{10 * c}.txt" for c in (20, 30, 40)},
        source="mgxian/istio-lab circuit breaking runs (fortio 1.0.1 outputs)"),
}


def preset(name: str) -> Environment:
    """The preset ``name``; LabError naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise LabError(Msg("presets.unknown", name=name, known=list(PRESETS))) from None
