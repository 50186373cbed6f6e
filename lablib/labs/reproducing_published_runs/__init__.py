"""Lab 04, ``labs/04-reproducing-published-runs.ipynb``: the published runs replayed under their environment.

``presets`` (pure): the Istio task's and the book's environments (service time, workers, auto mTLS,
``reuse_port``, client CPUs, fortio flags, published shares); ``client_cpu``: fortio and the client sidecar
pinned to N CPUs; ``reproduce``: replay, the comparison with what was published, checks, measured sensitivity.
"""

from lablib.labs.reproducing_published_runs import client_cpu, presets, reproduce
from lablib.labs.reproducing_published_runs.presets import PRESETS, Environment, preset

__all__ = ["PRESETS", "Environment", "client_cpu", "preset", "presets", "reproduce"]
