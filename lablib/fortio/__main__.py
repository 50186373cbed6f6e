"""``python -m lablib.fortio load [fortio flags] URL``: fortio's ``load`` command, on the lab's generator.

Text on stderr, ``-json -`` on stdout; exit 0 on success, 2 on bad flags or URL, 1 when the run fails
(fortio's own usage errors exit non-zero too). Never a traceback for bad input.
"""

from __future__ import annotations

import sys

from lablib._exceptions import FortioError, FortioUsageError
from lablib.fortio.flags import usage

USAGE = "usage: python -m lablib.fortio load [flags] url   (python -m lablib.fortio load -h for the flags)"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage() if args else USAGE, file=sys.stderr)
        return 0 if args else 2
    if args[0] == "curl":
        args = ["load", "-curl", *args[1:]]
    if args[0] != "load":
        print(f"fortio: unknown command {args[0]!r} (only `load` and `curl`)\n{USAGE}", file=sys.stderr)
        return 2
    from lablib.fortio.command import load

    try:
        load(args)
    except FortioUsageError as e:
        print(str(e), file=sys.stderr)
        return 0 if str(e) == usage() else 2
    except FortioError as e:
        print(f"fortio: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fortio: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
