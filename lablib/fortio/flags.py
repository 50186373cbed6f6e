"""fortio's ``load`` flags, parsed like Go's ``flag`` package, in one place.

Accepted forms, as Go's ``flag``: ``-c 3``, ``--c 3``, ``-c=3``; booleans as ``-keepalive`` or
``-keepalive=false`` (never ``-keepalive false``). Parsing stops at the first argument that is not a
flag (the URL) or after ``--``. Names, defaults and help texts are fortio's (``cli/fortio_main.go``,
``bincommon/commonflags.go``); ``-lablib-procs`` is ours.
"""

# ruff: noqa: E501 - the flag table keeps fortio's help texts on one line each, as fortio does
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lablib._duration import DurationError, parse_seconds
from lablib._exceptions import FortioUsageError
from lablib.fortio.options import LOG_LEVELS, LoadOptions
from lablib.fortio.stats import parse_percentiles
from lablib.i18n import Msg

__all__ = ["FLAGS", "ParsedArgs", "parse_args", "usage"]


@dataclass(frozen=True)
class Flag:
    name: str
    kind: str  # int, float, bool, string, duration, header, level
    default: str
    help: str


FLAGS: dict[str, Flag] = {
    f.name: f
    for f in [
        Flag("c", "int", "4", "Number of connections/goroutine/threads"),
        Flag("qps", "float", "8", "Queries Per Seconds or 0 for no wait/max qps"),
        Flag("n", "int", "0", "Run for exactly this number of calls instead of duration. Default (0) is to use duration (-t)."),
        Flag("t", "duration", "5s", "How long to run the test or 0 to run until ^C"),
        Flag("json", "string", "", "Json output to provided file `path` or '-' for stdout (empty = no json output)"),
        Flag("p", "string", "50,75,90,99,99.9", "List of pXX to calculate"),
        Flag("r", "float", "0.001", "Resolution of the histogram lowest buckets in seconds"),
        Flag("offset", "duration", "0s", "Offset of the histogram data"),
        Flag("H", "header", "", "Additional http header(s) or grpc metadata. Multiple `key:value` pairs can be passed using multiple -H."),
        Flag("timeout", "duration", "3s", "Connection and read timeout value (for http)"),
        Flag("keepalive", "bool", "true", "Keep connection alive (only for fast http 1.1)"),
        Flag("loglevel", "level", "Info", "log `level`, one of [Debug Verbose Info Warning Error Critical Fatal]"),
        Flag("labels", "string", "", "Additional config data/labels to add to the resulting JSON, defaults to target URL and hostname"),
        Flag("curl", "bool", "false", "Just fetch the content once"),
        Flag("quiet", "bool", "false", "Quiet mode, sets loglevel to Error (quietly) to reduces the output"),
        Flag("allow-initial-errors", "bool", "false", "Allow and don't abort on initial warmup errors"),
        Flag("sequential-warmup", "bool", "false", "http(s) runner warmup done sequentially instead of parallel. When set, -c (# of threads) may be affected"),
        Flag("jitter", "bool", "false", "set to true to de-synchronize parallel clients' by 10%"),
        Flag("uniform", "bool", "false", "set to true to de-synchronize parallel clients' requests uniformly"),
        Flag("nocatchup", "bool", "false", "set to exact fixed qps and prevent fortio from trying to catchup when the target fails to keep up temporarily"),
        Flag("runid", "int", "0", "Optional RunID to add to json result and auto save filename, to match server mode"),
        Flag("log-errors", "bool", "true", "Log http non 2xx/418 error codes as they occur"),
        Flag("abort-on", "int", "0", "Http `code` that if encountered aborts the run. e.g. 503 or -1 for socket errors."),
        Flag("resolve", "string", "", "Resolve host name to this `IP`"),
        Flag("h2", "bool", "false", "Attempt to use http2.0 / h2 (instead of http 1.1) for both TLS and h2c"),
        Flag("grpc", "bool", "false", "Use gRPC (health check by default, add -ping for ping) for load testing"),
        Flag("ping", "bool", "false", "gRPC load test: use ping instead of health"),
        Flag("s", "int", "1", "Number of streams per gRPC connection"),
        Flag("grpc-ping-delay", "duration", "0s", "gRPC ping delay in response"),
        Flag("healthservice", "string", "", "which service string to pass to health check"),
        Flag("lablib-procs", "int", "0", "(lablib) worker processes for the threads, 0 = automatic"),
    ]
}  # fmt: skip


@dataclass(frozen=True)
class ParsedArgs:
    """The result of parsing ``load`` flags: the options, plus what is not a run option."""

    options: LoadOptions
    json_path: str | None
    curl: bool


def usage() -> str:
    """Help text like fortio's ``-h``."""
    lines = ["usage: python -m lablib.fortio load [flags] url", "", "flags:"]
    for f in FLAGS.values():
        placeholder = ""
        m = re.search(r"`([^`]+)`", f.help)
        if f.kind != "bool":
            placeholder = " " + (
                m.group(1)
                if m
                else {"duration": "duration", "float": "float", "int": "int"}.get(f.kind, "string")
            )
        lines.append(f"  -{f.name}{placeholder}")
        default = f" (default {f.default})" if f.default not in ("", "false", "0") else ""
        lines.append(f"        {f.help.replace('`', '')}{default}")
    return "\n".join(lines)


def _bad(name: str, value: str, fix: Msg) -> FortioUsageError:
    return FortioUsageError(Msg("fortio.flags.bad_value", value=value, name=name, fix=fix))


def parse_args(args: Sequence[str], *, connect_to: tuple[str, int] | None = None) -> ParsedArgs:
    """Parse ``[load] [flags] URL`` into :class:`ParsedArgs`; FortioUsageError on any bad input."""
    args = list(args)
    if args and args[0] == "fortio":
        args = args[1:]
    if args and args[0] == "load":
        args = args[1:]
    values: dict[str, object] = {}
    headers: list[tuple[str, str]] = []
    i = 0
    rest: list[str] = []
    while i < len(args):
        a = args[i]
        if a == "--":
            rest = args[i + 1 :]
            break
        if not a.startswith("-") or a == "-":
            rest = args[i:]
            break
        body = a[2:] if a.startswith("--") else a[1:]
        name, eq, value = body.partition("=")
        if name in ("h", "help"):
            raise FortioUsageError(usage())  # fortio's own -h help text: tool output, stays English
        flag = FLAGS.get(name)
        if flag is None:
            raise FortioUsageError(Msg("fortio.flags.unknown_flag", name=name))
        if flag.kind == "bool":
            if eq:
                if value.lower() in ("1", "t", "true"):
                    val: object = True
                elif value.lower() in ("0", "f", "false"):
                    val = False
                else:
                    raise _bad(name, value, Msg("fortio.flags.fix_bool", name=name))
            else:
                val = True
            values[name] = val
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                raise FortioUsageError(Msg("fortio.flags.needs_argument", name=name))
            value = args[i + 1]
            i += 2
        else:
            i += 1
        values_or_headers(name, flag.kind, value, values, headers)
    if len(rest) != 1:
        got = Msg("fortio.flags.no_url") if not rest else Msg("fortio.flags.extra_args", n=len(rest),
                                                                  args=repr(rest))
        raise FortioUsageError(Msg("fortio.flags.needs_url", got=got))
    url = rest[0]
    loglevel = str(values.get("loglevel", "Info"))
    if values.get("quiet"):
        loglevel = "Error"
    resolve = str(values.get("resolve", ""))
    grpc = bool(values.get("grpc", False))
    if resolve and connect_to is None:
        from lablib.fortio.grpc_client import grpc_destination
        from lablib.fortio.http_client import parse_url

        connect_to = (resolve, grpc_destination(url)[1] if grpc else parse_url(url)[2])
    percentiles = tuple(values["p"]) if "p" in values else LoadOptions(url=url).percentiles  # type: ignore[arg-type]
    options = LoadOptions(
        url=url,
        num_threads=int(values.get("c", 4)),  # type: ignore[arg-type]
        qps=float(values.get("qps", 8.0)),  # type: ignore[arg-type]
        exactly=int(values.get("n", 0)),  # type: ignore[arg-type]
        duration_s=float(values.get("t", 5.0)),  # type: ignore[arg-type]
        percentiles=percentiles,
        resolution_s=float(values.get("r", 0.001)),  # type: ignore[arg-type]
        offset_s=float(values.get("offset", 0.0)),  # type: ignore[arg-type]
        headers=tuple(headers),
        timeout_s=float(values.get("timeout", 3.0)),  # type: ignore[arg-type]
        keepalive=bool(values.get("keepalive", True)),
        allow_initial_errors=bool(values.get("allow-initial-errors", False)),
        sequential_warmup=bool(values.get("sequential-warmup", False)),
        labels=str(values.get("labels", "")),
        loglevel=loglevel,
        jitter=bool(values.get("jitter", False)),
        uniform=bool(values.get("uniform", False)),
        no_catch_up=bool(values.get("nocatchup", False)),
        run_id=int(values.get("runid", 0)),  # type: ignore[arg-type]
        log_errors=bool(values.get("log-errors", True)),
        abort_on=int(values.get("abort-on", 0)),  # type: ignore[arg-type]
        connect_to=connect_to,
        procs=int(values.get("lablib-procs", 0)),  # type: ignore[arg-type]
        h2=bool(values.get("h2", False)),
        grpc=grpc,
        ping=bool(values.get("ping", False)),
        streams=int(values.get("s", 1)),  # type: ignore[arg-type]
        grpc_ping_delay_s=float(values.get("grpc-ping-delay", 0.0)),  # type: ignore[arg-type]
        health_service=str(values.get("healthservice", "")),
    )
    json_path = values.get("json")
    return ParsedArgs(options, str(json_path) if json_path else None, bool(values.get("curl", False)))


def values_or_headers(
    name: str, kind: str, value: str, values: dict[str, object], headers: list[tuple[str, str]]
) -> None:
    """Convert one flag value (Go's error texts, with the fix)."""
    if kind == "int":
        try:
            values[name] = int(value, 0) if value.strip().lower().startswith(("0x", "-0x")) else int(value)
        except ValueError:
            raise _bad(name, value, Msg("fortio.flags.fix_int")) from None
    elif kind == "float":
        try:
            values[name] = float(value)
        except ValueError:
            raise _bad(name, value, Msg("fortio.flags.fix_float")) from None
    elif kind == "duration":
        try:
            values[name] = parse_seconds(value)  # Go's flag.Duration: time.ParseDuration
        except DurationError:
            raise _bad(name, value, Msg("fortio.flags.fix_duration")) from None
    elif kind == "level":
        if value.lower() not in LOG_LEVELS:
            raise _bad(name, value, Msg("fortio.flags.fix_level"))
        values[name] = value.capitalize()
    elif kind == "header":
        key, sep, val = value.partition(":")
        if not sep or not key.strip():
            raise _bad(name, value, Msg("fortio.flags.fix_header"))
        headers.append((key.strip(), val.strip()))
    elif name == "p":
        try:
            values[name] = parse_percentiles(value)
        except ValueError as e:  # parse_percentiles says why in a Msg
            raise _bad(name, value, Msg("fortio.flags.fix_percentiles", why=e.args[0])) from None
    else:
        values[name] = value
