"""``python -m lablib.fortio._worker``: one worker process of a multi-process run (``multiproc.py``)."""

import sys

from lablib.fortio.multiproc import worker_main

if __name__ == "__main__":
    sys.exit(worker_main())
