"""``python -m lablib COMMAND …``: the lab from a terminal, with kubectl/istioctl-like verbs.

Each command lives with the module that does the work; this file only dispatches.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator

from lablib._exceptions import LabError, LabWarning

#: command -> (module:function taking argv and returning an exit code, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("lablib.manifests._cli:main", "check manifests like `istioctl analyze`: FILE:LINE: message"),
    "apply": ("lablib._cli:apply_main", "apply -f FILE: validate, then apply to the running lab"),
    "delete": ("lablib._cli:delete_main", "delete -f FILE: delete those objects from the lab"),
    "fortio": ("lablib._cli:fortio_main", "fortio load …: run the load generator in the fortio pod"),
    "stats": ("lablib._cli:stats_main", "stats [CLUSTER]: the client sidecar's Envoy stats"),
    "proxy-config": ("lablib._cli:proxy_config_main", "proxy-config cluster: the Envoy clusters as YAML"),
    "cleanup": ("lablib._cli:cleanup_main", "cleanup: delete everything the lab applied, stop every process"),
}


def _usage() -> str:
    lines = ["usage: python -m lablib COMMAND [ARGS…]", "", "commands:"]
    lines += [f"  {name:<13} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m lablib COMMAND …``; return the exit status.

    The one boundary between the lab and the terminal: whatever happens below ends in a one-line message,
    never a traceback, and a closed pipe (``… | head -1``) ends the command quietly.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else ""
    try:
        with _kubectl_warnings():
            status = _dispatch(argv)
            sys.stdout.flush()  # here, not at exit: a closed pipe must be seen while it can still be handled
            return status
    except BrokenPipeError:
        # `python -m lablib stats | head -1`: the reader is gone; say nothing, like kubectl killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("lablib: interrupted", file=sys.stderr)
        return 130
    except LabError as exc:
        print(f"lablib: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug of the lab's, not the student's: one line, and how to report it
        print(
            f"lablib: internal error in `{command}`: {type(exc).__name__}: {exc} (a bug in the lab, not in "
            "your files; please report it with the command you ran; LABLIB_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        if os.environ.get("LABLIB_DEBUG"):
            raise
        return 70  # EX_SOFTWARE


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"lablib: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[command][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


@contextlib.contextmanager
def _kubectl_warnings() -> Iterator[None]:
    """LabWarnings print like kubectl prints the API server's: ``Warning: FILE:LINE: …`` on stderr."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: object = None, line: str | None = None) -> None:
        if issubclass(category, LabWarning):
            print(f"Warning: {filename}:{lineno}: {message}", file=sys.stderr, flush=True)
        else:
            original(message, category, filename, lineno, file, line)  # type: ignore[arg-type]

    with warnings.catch_warnings():
        warnings.simplefilter("always", LabWarning)
        warnings.showwarning = show
        yield


if __name__ == "__main__":
    sys.exit(main())
