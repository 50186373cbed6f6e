"""The caps on what the lab reads, each with the reason a student sees when a file goes past it.

Like the Kubernetes API server, the lab bounds its input before it trusts it: the file's size, how deep YAML
nests, how much aliases copy, and how many objects a manifest makes. The first group protects the validator
itself (no input may hang it or eat the machine's memory); the second the embedded lab, where every pod is two
real processes on this machine and every subset one more Envoy cluster in every sidecar.
"""

from __future__ import annotations

from lablib.i18n import Msg

__all__ = [
    "EMBEDDED_POD",
    "ENVOY_CLUSTER",
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_DESTINATIONS",
    "MAX_FILE_BYTES",
    "MAX_ITEMS",
    "MAX_PODS",
    "MAX_REPLICAS",
    "MAX_ROUTES",
    "MAX_SUBSETS",
]

# --- the validator's own safety -----------------------------------------------------------------------------
#: Bytes per file. The API server refuses request bodies over 3 MiB and etcd objects over 1.5 MiB; the lab's
#: own manifests are under 4 KB, so 1 MiB is far more than a lab needs and still validates in about a second.
MAX_FILE_BYTES = 1024 * 1024
#: Nesting levels of YAML mappings and lists. A Kubernetes or Istio object nests about 10 deep
#: (spec.template.spec.containers[0].resources.limits.cpu); deeper input is an attack or a paste gone wrong.
MAX_DEPTH = 64
#: Items in one YAML list or mapping: refused while parsing, before the file is read to its end.
MAX_ITEMS = 1000
#: Nodes that aliases (``*name``) may copy in one file: a "billion laughs" file copies 10^9 from 400 bytes.
MAX_ALIAS_NODES = 10_000

# --- the embedded lab ---------------------------------------------------------------------------------------
# The reasons are Msgs (English as a str, any language through ``in_lang``): pass them as a value of a
# message's template (``why=EMBEDDED_POD``), never glued into an f-string.
#: Why pods are capped: "the embedded lab runs every pod as two real processes on this machine (…)".
EMBEDDED_POD = Msg("manifests.limits.embedded_pod")
#: Why subsets are capped: "each subset is one more Envoy cluster, per service port, in every sidecar, …".
ENVOY_CLUSTER = Msg("manifests.limits.envoy_cluster")
#: Pods per Deployment (``spec.replicas``).
MAX_REPLICAS = 10
#: Pods in one lab: what is already applied plus what the files add.
MAX_PODS = 20
#: Subsets per DestinationRule.
MAX_SUBSETS = 32
#: Routes per VirtualService section (``http``, ``tcp``, ``tls``).
MAX_ROUTES = 64
#: Destinations per route (``route:`` items).
MAX_DESTINATIONS = 16
