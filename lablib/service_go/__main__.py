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

from lablib.service_go._app import ServiceGo, serve
from lablib.service_go.cli import fault_of, parser


async def _main(args: argparse.Namespace) -> None:
    app = ServiceGo(args.version, service_time_ms=args.service_time_ms, fault=fault_of(args),
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
    args = parser().parse_args(argv)
    try:
        fault_of(args)
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
