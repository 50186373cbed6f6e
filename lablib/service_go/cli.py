"""service-go's command line, apart from the server: the parser ``python -m lablib.service_go`` reads, and
``args_problem``, what the app would say before exiting at once on a container's ``args`` (the image appends
them to its entrypoint), so the validator can refuse them at their line instead of a pod that dies."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from lablib.service_go._app import DEFAULT_SERVICE_TIME_MS, Fault

__all__ = ["args_problem", "fault_of", "flags", "parser"]


#: The app's flags and how argparse reads them (``--help`` comes with argparse).
_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--port", {"type": int, "default": 8080, "help": "`port` to listen on (0 asks the OS)"}),
    ("--host", {"default": "127.0.0.1", "help": "`address` to bind (0.0.0.0 inside a container)"}),
    ("--version", {"default": "v1", "help": "version reported by GET /env, e.g. v1 or v2"}),
    ("--service-time-ms", {"type": float, "default": DEFAULT_SERVICE_TIME_MS,
                           "help": "time spent on each GET /env, in milliseconds"}),
    ("--fault-code", {"type": int, "default": 503, "help": "status returned by faulted calls"}),
    ("--fault-fraction", {"type": float, "default": 0.0, "help": "fraction of calls that fail (0..1)"}),
    ("--fault-delay-ms", {"type": float, "default": 0.0,
                          "help": "extra milliseconds on every GET /env, on top of the service time (a slow "
                                  "instance)"}),
    ("--port-file", {"default": None, "help": "write the bound port to this `file` once listening"}),
    ("--grpc", {"action": "store_true",
                "help": "serve gRPC (fortio's PingServer and the health service) instead of HTTP"}),
    ("--health-service", {"default": "ping",
                          "help": "with --grpc: the health service `name` reported SERVING (besides \"\")"}),
    ("--control-socket", {"default": None,
                          "help": "also listen on this Unix socket `path` (0600); then POST /fault and "
                                  "/stats?reset=1 are accepted only there, not over TCP"}),
)


def parser(cls: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The app's flags (``cls``: ``args_problem`` reads them with a parser that raises instead of exiting)."""
    p = cls(prog="python -m lablib.service_go", description="the service-go sample app")
    for flag, how in _FLAGS:
        p.add_argument(flag, **how)
    return p


def flags() -> list[str]:
    """The app's flags (a fix names them)."""
    return [flag for flag, _ in _FLAGS]


def fault_of(args: argparse.Namespace) -> Fault:
    """The fault the flags set; ValueError (the app's words) when one is out of range."""
    return Fault(code=args.fault_code, fraction=args.fault_fraction, delay_ms=args.fault_delay_ms)


class _Refused(Exception):
    pass


class _Checking(argparse.ArgumentParser):
    """argparse's checks, raised instead of printed with an exit (``--help`` too: the app would exit)."""

    def error(self, message: str) -> NoReturn:
        raise _Refused(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _Refused(message or "prints its help and exits")

    def print_help(self, file: Any = None) -> None:
        pass


def args_problem(args: Sequence[str]) -> str | None:
    """What service-go says when it exits at start on ``args`` (as argparse or its fault check words it), or
    None when it would start."""
    try:
        fault_of(parser(_Checking).parse_args(list(args)))
    except (_Refused, ValueError) as exc:
        return str(exc).strip()
    return None
