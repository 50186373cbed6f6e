"""Checks across objects, like ``istioctl analyze``: routes to subsets nobody defines, subsets that select no
pod, several DestinationRules for one host, a rule that silently drops the circuit breaker it replaces.

``new`` are the objects being applied (in order), ``context`` the objects already applied. Problems are only
reported on new objects: what was applied before is the lab's state, not the student's current file.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from typing import Any

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


def _problem(m: Manifest, severity: Severity, path: str, message: str, fix: str) -> Problem:
    return Problem(
        severity, m.source.file, m.line_of(path), message, fix=fix, kind=m.kind, name=m.name, path=path
    )


def _where(m: Manifest) -> str:
    if m.source.line:
        return f"{m.source.file}:{m.source.line}"
    if m.source.file and m.source.file != "<applied>":
        return f"{m.source.file}, already applied"
    return "already applied"


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
    return problems


def _too_many_pods(objects: list[Manifest], fresh: set[int]) -> list[Problem]:
    """The lab's pods (applied + new) past MAX_PODS: an error on the new object that crosses the cap."""
    total = 0
    for m in objects:
        count = 1 if m.kind == "Pod" else replica_count(m) if m.kind == "Deployment" else 0
        total += count
        if total > MAX_PODS and count and id(m) in fresh:
            before = total - count
            return [
                _problem(
                    m,
                    "error",
                    "spec.replicas" if m.kind == "Deployment" else "metadata.name",
                    f"this would make {total} pods in the lab ({before} before this {m.kind}), more than the "
                    f"{MAX_PODS} it allows: {EMBEDDED_POD}",
                    "lower spec.replicas, or delete pods you no longer need (python -m lablib delete -f F)",
                )
            ]
    return []


def _replaced(m: Manifest, old: Manifest, same_batch: bool) -> list[Problem]:
    if same_batch:
        return [
            _problem(
                m,
                "warning",
                "metadata.name",
                f"{m.kind}/{m.name} is also defined at {_where(old)}; "
                "the one applied last (this one) replaces it",
                "keep only one of them",
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
        return [
            _problem(
                m,
                "warning",
                "spec",
                f"this replaces DestinationRule/{m.name} applied before "
                f"({_where(old)}), which has a connectionPool; this one has none, so the circuit "
                "breaker goes away",
                "copy the trafficPolicy.connectionPool into this rule if you still want the breaker",
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
            if rules:
                why = (
                    f"DestinationRule/{rules[0].name} ({_where(rules[0])}) for host {dest['host']} defines "
                    + (f"subsets {', '.join(defined)} only" if defined else "no subsets")
                )
            else:
                why = f"no DestinationRule for host {dest['host']} defines it"
            effect = (
                "Envoy has no cluster for it and these requests fail with 503 "
                "(istioctl analyze: IST0101 ReferencedResourceNotFound)"
            )
            if id(vs) in fresh:
                problems.append(
                    _problem(
                        vs,
                        "error",
                        f"{path}.subset",
                        f"subset '{subset}' is not defined: {why}; {effect}",
                        f"apply a DestinationRule with subset {subset} for host {dest['host']} first (e.g. "
                        "manifests/istio/resilience/destination-rule-go-cb.yaml), or remove `subset`",
                    )
                )
            else:
                for dr in (r for r in rules if id(r) in fresh):
                    problems.append(
                        _problem(
                            dr,
                            "error",
                            "spec.subsets",
                            f"VirtualService/{vs.name} (already applied) routes to "
                            f"subset '{subset}', which this rule does not define; {effect}",
                            f"add the subset `- name: {subset}` with its labels, or change the "
                            "VirtualService "
                            "first",
                        )
                    )
    return problems


def _two_rules_for_one_host(drs: list[Manifest], fresh: set[int]) -> list[Problem]:
    problems: list[Problem] = []
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
                    "spec.host",
                    f"DestinationRule/{other.name} ({_where(other)}) also configures host "
                    f"{dr.spec['host']}; Istio merges rules for one host only partly (the oldest rule's "
                    "trafficPolicy wins, later subsets are added) and this lab uses only the rule "
                    "applied first, so this rule's circuit breaker may not apply",
                    f"keep one DestinationRule per host: name this one {other.name} so that applying it "
                    f"replaces the other, or delete DestinationRule/{other.name} first",
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
        wanted = ", ".join(f"{k}: {v}" for k, v in labels.items())
        known = "; ".join(
            f"{p.name} {{{', '.join(f'{k}: {v}' for k, v in p.labels.items())}}}" for p in candidates[:4]
        )
        problems.append(
            _problem(
                dr,
                "warning",
                f"spec.subsets[{i}].labels",
                f"subset '{subset.get('name')}' selects no pod: no pod of "
                f"{dr.spec['host']} has the labels {{{wanted}}} (pods: {known}); its Envoy cluster has no "
                "endpoint and "
                "requests routed to it fail with 503",
                "use labels the pods have (e.g. version: v1), or deploy pods with these labels",
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
                    f"host '{host}' matches no Service (known: {', '.join(sorted(known.values()))})",
                    f"did you mean '{close[0]}'?" if close else "deploy the Service first, or fix the host",
                )
            )
    return problems
