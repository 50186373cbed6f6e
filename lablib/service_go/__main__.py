"""``python -m lablib.service_go --port N --version v1 [--host 127.0.0.1] [--service-time-ms 25] [--grpc]``.

``--grpc`` serves fortio's gRPC ping and health services (``fgrpc.PingServer/Ping``) on ``--port`` instead of
HTTP; ``--port-file`` and ``--control-socket`` work the same in both modes.
"""

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
    p.add_argument("--fault-delay-ms", type=float, default=0.0,
                   help="extra milliseconds on every GET /env, on top of the service time (a slow instance)")
    p.add_argument("--port-file", default=None, help="write the bound port to this `file` once listening")
    p.add_argument("--grpc", action="store_true",
                   help="serve gRPC (fortio's PingServer and the health service) instead of HTTP")
    p.add_argument("--health-service", default="ping",
                   help="with --grpc: the health service `name` reported SERVING (besides \"\")")
    p.add_argument("--control-socket", default=None,
                   help="also listen on this Unix socket `path` (0600); then POST /fault and /stats?reset=1 "
                        "are accepted only there, not over TCP")
    return p


async def _main(args: argparse.Namespace) -> None:
    app = ServiceGo(args.version, service_time_ms=args.service_time_ms,
                    fault=Fault(code=args.fault_code, fraction=args.fault_fraction,
                                delay_ms=args.fault_delay_ms),
                    tcp_control=args.control_socket is None)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[int] = loop.create_future()
    if args.grpc:
        from lablib.service_go._grpc import serve_grpc

        server = serve_grpc(app, args.host, args.port, ready=ready, control_socket=args.control_socket,
                            health_service=args.health_service)
    else:
        server = serve(app, args.host, args.port, ready=ready, control_socket=args.control_socket)
    task = asyncio.ensure_future(server)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    done, _ = await asyncio.wait({ready, task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done and not ready.done() and not task.cancelled():
        task.result()  # the server failed before listening: raise its error (OSError: cannot listen)
    port = ready.result() if ready.done() else 0
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    kind = "gRPC" if args.grpc else "HTTP"
    print(f"service-go {args.version} listening on {args.host}:{port} ({kind})", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        Fault(code=args.fault_code, fraction=args.fault_fraction, delay_ms=args.fault_delay_ms)
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
