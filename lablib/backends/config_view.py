"""A sidecar's live config as YAML, the way ``istioctl proxy-config <what> <pod> -o yaml`` shows it.

One view for every backend: each reads Envoy's ``/config_dump?resource=…`` its own way (the embedded mesh over
the sidecar's admin socket, the cluster backend through ``pilot-agent request``, the fake backend from the
config it computed) and hands the dumped items to ``render``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lablib._exceptions import LabError
from lablib._types import JSONDict
from lablib.i18n import Msg

__all__ = ["CONFIG_DUMP_RESOURCES", "config_dump_resource", "items_of", "render", "what_key"]

#: ``proxy_config(what)`` -> (Envoy ``config_dump?resource=``, the key of each dumped item), as istioctl
#: names them.
CONFIG_DUMP_RESOURCES: dict[str, tuple[str, str]] = {
    "cluster": ("dynamic_active_clusters", "cluster"),
    "route": ("dynamic_route_configs", "route_config"),
    "listener": ("dynamic_listeners", "listener"),
    "secret": ("dynamic_active_secrets", "secret"),
}


def what_key(what: str) -> str:
    """``what`` as istioctl's command names it (``clusters`` -> ``cluster``); LabError naming the choices."""
    key = what.rstrip("s")
    if key not in CONFIG_DUMP_RESOURCES:
        raise LabError(Msg("backends.proxy_config.unknown", what=what, choices=list(CONFIG_DUMP_RESOURCES)))
    return key


def config_dump_resource(what: str) -> tuple[str, str]:
    """The ``config_dump`` resource and item key for ``proxy_config(what)``."""
    return CONFIG_DUMP_RESOURCES[what_key(what)]


def items_of(configs: Iterable[Mapping[str, Any]], field: str) -> list[JSONDict]:
    """The resources inside dumped items (``{"cluster": …}``, or a listener's ``{"active_state": {"listener":
    …}}``) without their ``@type``; items that carry none (a listener still warming) are left out."""
    items = []
    for c in configs:
        item = c.get(field) or (c.get("active_state") or {}).get(field)
        if item:
            items.append({k: v for k, v in item.items() if k != "@type"})
    return items


def render(what: str, configs: Iterable[Mapping[str, Any]]) -> str:
    """YAML of the dumped ``configs`` of ``what``: clusters in istioctl's form (camelCase, sorted keys),
    routes and listeners as Envoy dumps them, secrets as ``istioctl proxy-config secret`` describes them."""
    import yaml

    key = what_key(what)
    if key == "secret":
        from lablib.mtls.describe import describe_secret

        return yaml.safe_dump([describe_secret(s) for s in configs], sort_keys=False)
    items = items_of(configs, CONFIG_DUMP_RESOURCES[key][1])
    if key == "cluster":
        from lablib.translate import render_yaml

        return render_yaml(items)
    return yaml.safe_dump(items, sort_keys=False)
