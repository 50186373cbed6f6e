"""The lab from a terminal: ``python -m lablib apply|delete|fortio|stats|proxy-config|cleanup``.

Each command acts on the same running lab as the notebook: ``apply`` starts a persistent embedded lab if none
runs (it lives until ``cleanup``), the others attach to the running one. Every function takes ``argv`` and
returns an exit code; ``lablib.__main__`` dispatches to them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from lablib._exceptions import LabError, LabNotRunning, ValidationFailed

__all__ = ["apply_main", "cleanup_main", "delete_main", "fortio_main", "proxy_config_main", "stats_main"]


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m lablib {prog}", description=description)
    p.add_argument("--lab", default=None, help="the lab's `name` (default: the backend's default lab)")
    p.add_argument("--backend", default=None,
                   help="embedded, kind or auto (default: $LABLIB_BACKEND, else auto)")
    return p


def _open(args: argparse.Namespace, *, start: bool) -> object:
    from lablib.lab import Lab, choose_backend

    kind, _ = choose_backend(args.backend)
    if kind == "kind":
        return Lab(backend="kind", name=args.lab)
    # The CLI's lab must outlive this process; other commands never start one.
    return Lab(backend="embedded", name=args.lab, persist=start, attach_only=not start,
               progress=_progress)


def _progress(done: int, total: int, message: str) -> None:
    print(f"[{done}/{total}] {message}" if total else message, file=sys.stderr, flush=True)


def _run(body: Callable[[], int]) -> int:
    try:
        return body()
    except ValidationFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except LabNotRunning as exc:
        print(f"lablib: {exc}", file=sys.stderr)
        return 3
    except LabError as exc:
        print(f"lablib: {exc}", file=sys.stderr)
        return 1


def apply_main(argv: Sequence[str]) -> int:
    """``apply -f FILE [-f FILE…]``: validate, then apply to the running lab (starting one if needed)."""
    p = _parser("apply", "validate then apply manifests to the running lab, like kubectl apply -f")
    p.add_argument("-f", "--filename", action="append", required=True, help="manifest `file` (repeatable)")
    args = p.parse_args(list(argv))

    def body() -> int:
        lab = _open(args, start=True)
        for path in args.filename:
            for name in lab.apply(path):  # type: ignore[attr-defined]
                print(f"{name} configured")
        return 0

    return _run(body)


def delete_main(argv: Sequence[str]) -> int:
    """``delete -f FILE``: delete those objects from the running lab (missing ones are ignored)."""
    p = _parser("delete", "delete the objects of manifests from the running lab, like kubectl delete -f")
    p.add_argument("-f", "--filename", action="append", required=True, help="manifest `file` (repeatable)")
    args = p.parse_args(list(argv))

    def body() -> int:
        lab = _open(args, start=False)
        for path in args.filename:
            for name in lab.delete(path):  # type: ignore[attr-defined]
                print(f"{name} deleted")
        return 0

    return _run(body)


def fortio_main(argv: Sequence[str]) -> int:
    """``fortio load [flags] URL``: run the load generator in the fortio pod, print fortio's summary."""
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m lablib fortio [--pod POD] load [-c N] [-qps Q] [-n N | -t DUR] [--lab NAME] "
              "URL\n  --pod POD  run from that client pod (e.g. fortio-2), like kubectl exec POD")
        return 0 if argv else 2
    lab_name = pod = None
    for flag in ("--lab", "--pod"):  # ours, not fortio's: taken out before fortio parses the rest
        if flag in argv:
            i = argv.index(flag)
            value = argv[i + 1] if i + 1 < len(argv) else None
            del argv[i:i + 2]
            lab_name, pod = (value, pod) if flag == "--lab" else (lab_name, value)
    args = argparse.Namespace(lab=lab_name, backend=None)

    def body() -> int:
        lab = _open(args, start=False)
        lab.fortio(argv, pod=pod)  # type: ignore[attr-defined]  # fortio prints its own summary
        return 0

    return _run(body)


def stats_main(argv: Sequence[str]) -> int:
    """``stats [CLUSTER]``: the client sidecar's stats, as Envoy prints them (``cluster.<name>.<stat>:
    N``)."""
    p = _parser("stats", "the client sidecar's Envoy cluster stats")
    p.add_argument("cluster", nargs="?", default=None,
                   help="Envoy cluster `name`, e.g. outbound|80||service-go."
                   "default.svc.cluster.local (default: every outbound cluster)")
    p.add_argument("--grep", default=None, help="only stats whose name contains this `text` (e.g. overflow)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Envoy's text format")
    p.add_argument("--pod", default=None, help="read this `pod`'s sidecar (e.g. service-go-v1-0: its inbound "
                   "clusters) instead of the fortio pod's")
    args = p.parse_args(list(argv))

    def body() -> int:
        lab = _open(args, start=False)
        got = lab.stats(args.cluster, **({"pod": args.pod} if args.pod else {}))  # type: ignore[attr-defined]
        clusters = {args.cluster: got} if args.cluster else got
        flat = {c: {k: v for k, v in s.values.items() if not args.grep or args.grep in k}
                for c, s in clusters.items()}
        if args.json:
            print(json.dumps(flat, indent=2, sort_keys=True))
        else:
            for c, values in flat.items():
                for k, v in sorted(values.items()):
                    print(f"cluster.{c}.{k}: {v}")
        return 0

    return _run(body)


def proxy_config_main(argv: Sequence[str]) -> int:
    """``proxy-config cluster|route|listener|secret``: the client sidecar's live config as YAML."""
    p = _parser("proxy-config", "the client sidecar's config, like istioctl proxy-config … -o yaml")
    p.add_argument("what", nargs="?", default="cluster", choices=["cluster", "clusters", "route", "routes",
                                                                  "listener", "listeners", "secret",
                                                                  "secrets"])
    p.add_argument("--pod", default=None, help="show this `pod`'s sidecar (e.g. service-go-v1-0) instead of "
                   "the fortio pod's, like istioctl proxy-config cluster POD")
    args = p.parse_args(list(argv))

    def body() -> int:
        lab = _open(args, start=False)
        print(lab.proxy_config(args.what, **({"pod": args.pod} if args.pod else {})))  # type: ignore[attr-defined]
        return 0

    return _run(body)


def cleanup_main(argv: Sequence[str]) -> int:
    """``cleanup``: stop every process of the lab and remove its files (nothing running is fine)."""
    p = _parser("cleanup", "delete everything the lab applied and stop every process")
    args = p.parse_args(list(argv))

    def body() -> int:
        from lablib.backends.mesh._state import StateCorrupt, StateDir

        try:
            lab = _open(args, start=False)
        except LabNotRunning:
            print("no lab running; nothing to clean up")
            return 0
        except StateCorrupt:  # the one verb that must work on a damaged lab: stop it by its files
            StateDir(args.lab or "default").reap()
            print("lab cleaned up (its state file was damaged)")
            return 0
        lab.cleanup()  # type: ignore[attr-defined]
        print("lab cleaned up")
        return 0

    return _run(body)
