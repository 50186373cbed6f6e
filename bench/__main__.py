"""``python -m bench [NAME…]``: run every ``bench/bench_*.py`` (or the named ones).

Each benchmark module has ``main() -> int``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    status = 0
    for name in wanted:
        print(f"== {name}", flush=True)
        status |= int(importlib.import_module(f"bench.{name}").main() or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
