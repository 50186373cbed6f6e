"""``python -m lablib COMMAND …``: the lab from a terminal, with kubectl/istioctl-like verbs.

Each command lives with the module that does the work; this file only dispatches.
"""

from __future__ import annotations

import importlib
import sys

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
    argv = list(sys.argv[1:] if argv is None else argv)
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


if __name__ == "__main__":
    sys.exit(main())
