"""``python -m lablib.service_go --port N --version v1 [--host 127.0.0.1] [--service-time-ms 25]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from lablib.service_go._app import DEFAULT_SERVICE_TIME_MS, Fault, ServiceGo, serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lablib.service_go", description="the service-go sample app")
    p.add_argument("--port", type=int, default=8080, help="`port` to listen on (0 asks the OS)")
    p.add_argument("--host", default="127.0.0.1", help="`address` to bind (0.0.0.0 inside a container)")
    p.add_argument("--version", default="v1", help="version reported by GET /env, e.g. v1 or v2")
    p.add_argument("--service-time-ms", type=float, default=DEFAULT_SERVICE_TIME_MS,
                   help="time spent on each GET /env, in milliseconds")
    p.add_argument("--fault-code", type=int, default=503, help="status returned by faulted calls")
    p.add_argument("--fault-fraction", type=float, default=0.0, help="fraction of calls that fail (0..1)")
    p.add_argument("--port-file", default=None, help="write the bound port to this `file` once listening")
    p.add_argument("--control-socket", default=None,
                   help="also listen on this Unix socket `path` (0600); then POST /fault and /stats?reset=1 "
                        "are accepted only there, not over TCP")
    return p


async def _main(args: argparse.Namespace) -> None:
    app = ServiceGo(args.version, service_time_ms=args.service_time_ms,
                    fault=Fault(code=args.fault_code, fraction=args.fault_fraction),
                    tcp_control=args.control_socket is None)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[int] = loop.create_future()
    task = asyncio.ensure_future(serve(app, args.host, args.port, ready=ready,
                                       control_socket=args.control_socket))
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    port = await asyncio.wait_for(asyncio.shield(ready), timeout=30) if not task.done() else 0
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"service-go {args.version} listening on {args.host}:{port}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        Fault(code=args.fault_code, fraction=args.fault_fraction)
    except ValueError as exc:
        print(f"service-go: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_main(args))
    except OSError as exc:
        print(f"service-go: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
