"""A fortio-compatible load generator, fortio's histogram/JSON/text, and the one result reader.

In the cluster backend the lab runs the real fortio binary; in the embedded backend it runs this
generator, which follows ``fortio load`` (fortio 1.75.2 semantics: static split of ``-n`` over ``-c``
threads, one socket per thread kept after 2xx/418 and closed after anything else, warmup rules,
fortio's histogram and percentiles) and writes fortio's own JSON. ``-h2`` (fortio's std client: h2c, one
connection per thread) and ``-grpc [-ping]`` (fortio's gRPC runner: RetCodes SERVING/ERROR, ``-s`` threads per
connection) follow fortio too. All of these, and the runs printed in the book, are read back by
:func:`read_result` into one :class:`FortioResult`.

    >>> from lablib.fortio import load
    >>> r = load("load -c 3 -qps 0 -n 30 -loglevel Warning http://service-go/env",
    ...          connect_to=("127.0.0.1", 15001))                       # doctest: +SKIP
    >>> r.codes, r.sockets                                             # doctest: +SKIP
    ({200: 11, 503: 19}, 20)

Layout (imports point down): ``stats`` (leaf) ← ``options`` / ``periodic`` ← ``http_client`` ←
``h2_client`` ← ``grpc_client`` ← ``engine``
(threads on a loop, the warmup rule) ← ``multiproc`` ← ``runner`` ← ``results`` (JSON) / ``report`` (text)
/ ``flags`` ← ``command`` (``load``);
``result`` + ``reader`` for the record; ``testing`` holds the real servers tests and benchmarks load.
"""

from lablib.fortio.command import ProgressCallback, curl, load
from lablib.fortio.options import DEFAULT_LOAD_OPTIONS, FORTIO_VERSION, VERSION, LoadOptions
from lablib.fortio.reader import read_result
from lablib.fortio.result import Bucket, FortioResult

__all__ = [
    "DEFAULT_LOAD_OPTIONS",
    "FORTIO_VERSION",
    "VERSION",
    "Bucket",
    "FortioResult",
    "LoadOptions",
    "ProgressCallback",
    "curl",
    "load",
    "read_result",
]
