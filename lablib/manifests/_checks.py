"""Checks across objects, like ``istioctl analyze``: routes to subsets nobody defines, subsets that select no
pod, several DestinationRules for one host, a rule that silently drops the circuit breaker it replaces, a
Sidecar that selects no pod or names a port its pods do not serve.

``new`` are the objects being applied (in order), ``context`` the objects already applied. Problems are only
reported on new objects: what was applied before is the lab's state, not the student's current file.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from typing import Any

from lablib.i18n import Msg
from lablib.manifests._limits import EMBEDDED_POD, MAX_PODS
from lablib.manifests._problem import Problem, Severity
from lablib.manifests.objects import SUPPORTED_KINDS, Manifest, PodTemplate, pods_of, replica_count

__all__ = ["check_objects", "fqdn"]


def fqdn(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """The name Istio resolves a short host to: ``service-go`` -> ``service-go.default.svc.cluster.local``."""
    if "*" in host or host.endswith(f".svc.{domain}"):
        return host
    if host.endswith(".svc"):
        return f"{host}.{domain}"
    dots = host.count(".")
    if dots == 0:
        return f"{host}.{namespace}.svc.{domain}"
    if dots == 1:
        return f"{host}.svc.{domain}"
    return host


def _hosts_match(a: str, b: str) -> bool:
    return a == b or fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a)


def _problem(m: Manifest, severity: Severity, path: str, message: Msg, fix: Msg) -> Problem:
    return Problem(
        severity, m.source.file, m.line_of(path), message, fix=fix, kind=m.kind, name=m.name, path=path
    )


def _where(m: Manifest) -> str:
    """Where ``m`` comes from: ``FILE:LINE`` (a position, the same in every language), or a Msg saying it
    was already applied (from ``FILE`` when known)."""
    if m.source.line:
        return f"{m.source.file}:{m.source.line}"
    if m.source.file and m.source.file != "<applied>":
        return Msg("manifests.checks.where_applied_file", file=m.source.file)
    return Msg("manifests.checks.where_applied")


def _route_destinations(vs: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    for section in ("http", "tcp", "tls"):
        routes = vs.spec.get(section)
        for i, route in enumerate(routes if isinstance(routes, list) else []):
            dests = route.get("route") if isinstance(route, dict) else None
            for j, dest in enumerate(dests if isinstance(dests, list) else []):
                d = dest.get("destination") if isinstance(dest, dict) else None
                if isinstance(d, dict) and isinstance(d.get("host"), str):
                    yield f"spec.{section}[{i}].route[{j}].destination", d
            mirror = route.get("mirror") if isinstance(route, dict) else None
            if isinstance(mirror, dict) and isinstance(mirror.get("host"), str):
                yield f"spec.{section}[{i}].mirror", mirror


def _subsets(dr: Manifest) -> list[tuple[int, dict[str, Any]]]:
    subsets = dr.spec.get("subsets")
    return [(i, s) for i, s in enumerate(subsets if isinstance(subsets, list) else []) if isinstance(s, dict)]


def _dr_host(dr: Manifest) -> str | None:
    host = dr.spec.get("host")
    return fqdn(host, dr.namespace) if isinstance(host, str) else None


def check_objects(new: list[Manifest], context: list[Manifest]) -> list[Problem]:
    """Every cross-object problem of ``new`` applied on top of ``context``."""
    problems: list[Problem] = []
    state: dict[tuple[str, str, str], Manifest] = {m.key: m for m in context if m.kind in SUPPORTED_KINDS}
    previous: dict[tuple[str, str, str], Manifest] = {}
    fresh = {id(m) for m in new}
    for m in new:
        if m.kind not in SUPPORTED_KINDS:
            continue
        if m.key in state:
            previous[m.key] = state[m.key]
        state[m.key] = m
    objects = list(state.values())
    drs = [m for m in objects if m.kind == "DestinationRule" and _dr_host(m)]
    services = [m for m in objects if m.kind == "Service"]
    too_many = _too_many_pods(objects, fresh)
    problems += too_many
    pods = [] if too_many else pods_of(objects)  # counted first: never build 10^5 pods to compare labels

    for key, old in previous.items():
        problems += _replaced(state[key], old, id(old) in fresh)
    problems += _subset_references(objects, drs, fresh)
    problems += _two_rules_for_one_host(drs, fresh)
    for dr in (m for m in drs if id(m) in fresh):
        problems += _subsets_select_pods(dr, services, pods)
    problems += _unknown_hosts(objects, services, fresh)
    problems += _sidecar_checks(objects, services, pods, fresh)
    return problems


def _too_many_pods(objects: list[Manifest], fresh: set[int]) -> list[Problem]:
    """The lab's pods (applied + new) past MAX_PODS: an error on the new object that crosses the cap."""
    total = 0
    for m in objects:
        count = 1 if m.kind == "Pod" else replica_count(m) if m.kind == "Deployment" else 0
        total += count
        if total > MAX_PODS and count and id(m) in fresh:
            before = total - count
            at = "spec.replicas" if m.kind == "Deployment" else "metadata.name"
            return [
                _problem(
                    m,
                    "error",
                    at,
                    Msg("manifests.checks.too_many_pods", total=total, before=before, kind=m.kind,
                        most=MAX_PODS, why=EMBEDDED_POD),
                    Msg("manifests.checks.too_many_pods_fix"),
                )
            ]
    return []


def _replaced(m: Manifest, old: Manifest, same_batch: bool) -> list[Problem]:
    if same_batch:
        at = "metadata.name"
        return [
            _problem(
                m,
                "warning",
                at,
                Msg("manifests.checks.defined_twice", kind=m.kind, name=m.name, where=_where(old)),
                Msg("manifests.checks.defined_twice_fix"),
            )
        ]
    if m.kind != "DestinationRule":
        return []
    old_pool = (
        (old.spec.get("trafficPolicy") or {}).get("connectionPool")
        if isinstance(old.spec.get("trafficPolicy"), dict)
        else None
    )
    new_policy = m.spec.get("trafficPolicy")
    new_pool = new_policy.get("connectionPool") if isinstance(new_policy, dict) else None
    if old_pool and not new_pool:
        at = "spec"
        return [
            _problem(
                m,
                "warning",
                at,
                Msg("manifests.checks.drops_breaker", name=m.name, where=_where(old)),
                Msg("manifests.checks.drops_breaker_fix"),
            )
        ]
    return []


def _subset_references(objects: list[Manifest], drs: list[Manifest], fresh: set[int]) -> list[Problem]:
    problems: list[Problem] = []
    for vs in (m for m in objects if m.kind == "VirtualService"):
        for path, dest in _route_destinations(vs):
            subset = dest.get("subset")
            if not isinstance(subset, str):
                continue
            host = fqdn(dest["host"], vs.namespace)
            rules = [dr for dr in drs if _hosts_match(_dr_host(dr) or "", host)]
            if any(s.get("name") == subset for dr in rules for _, s in _subsets(dr)):
                continue
            defined = sorted({str(s.get("name")) for dr in rules for _, s in _subsets(dr)})
            host_name = dest["host"]
            if rules and defined:
                why = Msg("manifests.checks.rule_defines_only", rule=rules[0].name, where=_where(rules[0]),
                          host=host_name, subsets=defined)
            elif rules:
                why = Msg("manifests.checks.rule_defines_none", rule=rules[0].name, where=_where(rules[0]),
                          host=host_name)
            else:
                why = Msg("manifests.checks.no_rule_defines", host=host_name)
            effect = Msg("manifests.checks.no_cluster_503")
            if id(vs) in fresh:
                at = f"{path}.subset"
                problems.append(
                    _problem(
                        vs,
                        "error",
                        at,
                        Msg("manifests.checks.subset_undefined", subset=subset, why=why, effect=effect),
                        Msg("manifests.checks.subset_undefined_fix", subset=subset, host=host_name),
                    )
                )
            else:
                at = "spec.subsets"
                for dr in (r for r in rules if id(r) in fresh):
                    problems.append(
                        _problem(
                            dr,
                            "error",
                            at,
                            Msg("manifests.checks.subset_dropped", route=vs.name, subset=subset,
                                effect=effect),
                            Msg("manifests.checks.subset_dropped_fix", subset=subset),
                        )
                    )
    return problems


def _two_rules_for_one_host(drs: list[Manifest], fresh: set[int]) -> list[Problem]:
    problems: list[Problem] = []
    at = "spec.host"
    # Rules grouped by (namespace, host): a 1 MiB file holds ~2,000 rules, and comparing every pair (or
    # worse, looking each one up in the list) took minutes. Wildcard hosts are compared with every group.
    position = {id(m): i for i, m in enumerate(drs)}
    groups: dict[tuple[str, str], list[Manifest]] = {}
    for dr in drs:
        groups.setdefault((dr.namespace, _dr_host(dr) or ""), []).append(dr)
    wildcards = [key for key in groups if "*" in key[1]]
    for i, dr in enumerate(drs):
        if id(dr) not in fresh:
            continue
        key = (dr.namespace, _dr_host(dr) or "")
        keys = [key] + [k for k in (groups if "*" in key[1] else wildcards) if k != key and k[0] == key[0]]
        for other in (o for k in keys if _hosts_match(key[1], k[1]) for o in groups[k]):
            if other is dr or (id(other) in fresh and position[id(other)] > i):
                continue  # report each pair once, on the later new object
            problems.append(
                _problem(
                    dr,
                    "warning",
                    at,
                    Msg("manifests.checks.two_rules", other=other.name, where=_where(other),
                        host=dr.spec["host"]),
                    Msg("manifests.checks.two_rules_fix", other=other.name),
                )
            )
    return problems


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(str(k)) == str(v) for k, v in selector.items())


def _subsets_select_pods(dr: Manifest, services: list[Manifest], pods: list[PodTemplate]) -> list[Problem]:
    host = _dr_host(dr) or ""
    service = next(
        (s for s in services if _hosts_match(f"{s.name}.{s.namespace}.svc.cluster.local", host)), None
    )
    if service is not None:
        selector = service.spec.get("selector")
        selector = selector if isinstance(selector, dict) else {}
        candidates = [p for p in pods if p.namespace == service.namespace and _selects(selector, p.labels)]
    else:
        candidates = [p for p in pods if p.namespace == dr.namespace]
    if not candidates:
        return []  # no pod known for this host: nothing to compare with
    problems: list[Problem] = []
    for i, subset in _subsets(dr):
        labels = subset.get("labels")
        if not isinstance(labels, dict) or any(_selects(labels, p.labels) for p in candidates):
            continue
        # labels and pods are YAML-like data (``version: v9``), the same in every language
        wanted = ", ".join(f"{k}: {v}" for k, v in labels.items())
        known = "; ".join(
            f"{p.name} {{{', '.join(f'{k}: {v}' for k, v in p.labels.items())}}}" for p in candidates[:4]
        )
        at = f"spec.subsets[{i}].labels"
        problems.append(
            _problem(
                dr,
                "warning",
                at,
                Msg("manifests.checks.subset_no_pod", subset=subset.get("name"), host=dr.spec["host"],
                    labels=wanted, pods=known),
                Msg("manifests.checks.subset_no_pod_fix"),
            )
        )
    return problems


def _unknown_hosts(objects: list[Manifest], services: list[Manifest], fresh: set[int]) -> list[Problem]:
    if not services:
        return []  # no Service known at all: the lab state is not loaded, say nothing
    known = {f"{s.name}.{s.namespace}.svc.cluster.local": s.name for s in services}
    problems: list[Problem] = []
    for m in (o for o in objects if id(o) in fresh):
        places: list[tuple[str, str]] = []
        if m.kind == "DestinationRule" and isinstance(m.spec.get("host"), str):
            places.append(("spec.host", m.spec["host"]))
        elif m.kind == "VirtualService":
            places += [(f"{path}.host", dest["host"]) for path, dest in _route_destinations(m)]
        for path, host in places:
            full = fqdn(host, m.namespace)
            if not full.endswith(".svc.cluster.local") or any(_hosts_match(full, k) for k in known):
                continue
            close = difflib.get_close_matches(host, sorted(known.values()), n=1, cutoff=0.6)
            problems.append(
                _problem(
                    m,
                    "warning",
                    path,
                    Msg("manifests.checks.unknown_host", host=host, known=sorted(known.values())),
                    Msg("manifests.checks.did_you_mean", name=close[0]) if close
                    else Msg("manifests.checks.unknown_host_fix"),
                )
            )
    return problems


# --- Sidecar: which pods it configures, and their ports ---------------------------------------------------


def _workload_ports(pod: PodTemplate, services: list[Manifest]) -> set[int]:
    """The ports ``pod``'s inbound clusters are named for: each selecting Service's numeric targetPort, else
    its port (Istio's ``inbound|<target port>||``; the translator's ``ServicePort.workload_port``)."""
    ports: set[int] = set()
    for svc in services:
        selector = svc.spec.get("selector")
        if svc.namespace != pod.namespace or not isinstance(selector, dict) or not selector \
                or not _selects(selector, pod.labels):
            continue
        for entry in svc.spec.get("ports") or ():
            if not isinstance(entry, dict):
                continue
            target, port = entry.get("targetPort"), entry.get("port")
            number = target if isinstance(target, int) and not isinstance(target, bool) else port
            if isinstance(number, int) and not isinstance(number, bool):
                ports.add(number)
    return ports


def _sidecar_pods(sc: Manifest, pods: list[PodTemplate]) -> list[PodTemplate]:
    """The pods a Sidecar applies to: its workloadSelector's, or (without one) its whole namespace's."""
    selector = sc.spec.get("workloadSelector")
    labels = selector.get("labels") if isinstance(selector, dict) else None
    mine = [p for p in pods if p.namespace == sc.namespace]
    return [p for p in mine if _selects(labels, p.labels)] if isinstance(labels, dict) and labels else mine


def _sidecar_checks(objects: list[Manifest], services: list[Manifest], pods: list[PodTemplate],
                    fresh: set[int]) -> list[Problem]:
    sidecars = [m for m in objects if m.kind == "Sidecar" and not m.errors]
    problems: list[Problem] = []
    for sc in (m for m in sidecars if id(m) in fresh):
        if not any(p.namespace == sc.namespace for p in pods):
            continue  # no pod known in its namespace: the lab state is not loaded, say nothing
        selected = _sidecar_pods(sc, pods)
        if not selected:
            labels = sc.spec["workloadSelector"].get("labels") or {}
            wanted = ", ".join(f"{k}: {v}" for k, v in labels.items())
            known = "; ".join(f"{p.name} {{{', '.join(f'{k}: {v}' for k, v in p.labels.items())}}}"
                              for p in pods if p.namespace == sc.namespace)
            problems.append(_problem(sc, "warning", "spec.workloadSelector.labels",
                                     Msg("manifests.checks.sidecar_no_pod", labels=wanted, pods=known),
                                     Msg("manifests.checks.sidecar_no_pod_fix")))
            continue
        problems += _sidecar_ports(sc, selected, services)
        problems += _sidecars_overlap(sc, selected, sidecars)
    return problems


def _sidecar_ports(sc: Manifest, selected: list[PodTemplate], services: list[Manifest]) -> list[Problem]:
    """Ingress ports the selected pods do not serve, and served ports an ingress list leaves out: Istio would
    open a listener with nothing behind it, and send the left-out port through its passthrough cluster, with
    no inbound limit at all. The lab builds neither."""
    ingress = [(i, e) for i, e in enumerate(sc.spec.get("ingress") or ()) if isinstance(e, dict)]
    servers = [(p, _workload_ports(p, services)) for p in selected]
    servers = [(p, ports) for p, ports in servers if ports]
    if not ingress or not servers:
        return []
    served = sorted(set().union(*(ports for _, ports in servers)))
    names = ", ".join(p.name for p, _ in servers[:4])
    problems: list[Problem] = []
    listed: set[int] = set()
    for i, entry in ingress:
        number = (entry.get("port") or {}).get("number")
        if not isinstance(number, int):
            continue
        listed.add(number)
        if number not in served:
            problems.append(_problem(
                sc, "error", f"spec.ingress[{i}].port.number",
                Msg("manifests.checks.sidecar_unknown_port", port=number, pods=names, served=served),
                Msg("manifests.checks.sidecar_unknown_port_fix", served=served)))
            continue
        endpoint = entry.get("defaultEndpoint")
        listens = {p.container_port or number for p, ports in servers if number in ports}
        target = endpoint.rpartition(":")[2] if isinstance(endpoint, str) and ":" in endpoint else ""
        if target.isdigit() and int(target) not in listens:
            problems.append(_problem(
                sc, "error", f"spec.ingress[{i}].defaultEndpoint",
                Msg("manifests.checks.sidecar_endpoint_port", endpoint=endpoint, listens=sorted(listens)),
                Msg("manifests.checks.sidecar_endpoint_port_fix", port=sorted(listens)[0])))
    for port in (p for p in served if p not in listed):
        problems.append(_problem(
            sc, "error", "spec.ingress",
            Msg("manifests.checks.sidecar_port_left_out", port=port, pods=names),
            Msg("manifests.checks.sidecar_port_left_out_fix", port=port)))
    return problems


def _sidecars_overlap(sc: Manifest, selected: list[PodTemplate], sidecars: list[Manifest]) -> list[Problem]:
    """Two Sidecars of the same kind (both with a workloadSelector, or both without) for one pod: Istio says
    the behaviour is undefined (the lab uses the first one applied)."""
    has_selector = isinstance(sc.spec.get("workloadSelector"), dict)
    names = {p.name for p in selected}
    for other in sidecars:
        if other is sc or other.namespace != sc.namespace \
                or isinstance(other.spec.get("workloadSelector"), dict) != has_selector:
            continue
        both_select = sorted(names & {p.name for p in _sidecar_pods(other, selected)})
        if both_select:
            return [_problem(sc, "warning", "spec.workloadSelector" if has_selector else "metadata.name",
                             Msg("manifests.checks.sidecar_overlap", other=other.name, where=_where(other),
                                 pods=", ".join(both_select[:4])),
                             Msg("manifests.checks.sidecar_overlap_fix", other=other.name))]
    return []
