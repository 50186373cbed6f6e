"""The one boundary where errors from the kubernetes client, urllib3, websocket and subprocesses become lablib
errors (like httpx's ``map_httpcore_exceptions``): most specific match first, the original kept as
``__cause__``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator

from lablib._exceptions import BackendError, BackendUnavailable, LabError
from lablib.backends.kind._detect import INSTALL_HINTS

__all__ = ["_map_errors", "api_message"]


def api_message(exc: BaseException) -> str:
    """The API server's own ``Status.message`` when the body is a Status, else the reason."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            status = json.loads(body)
        except ValueError:
            status = {}
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return str(getattr(exc, "reason", "") or exc)


def _tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


@contextlib.contextmanager
def _map_errors(what: str) -> Iterator[None]:
    """Run the block; re-raise anything it throws as the most specific ``LabError``, prefixed with
    ``what``."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout
    from websocket import WebSocketException, WebSocketTimeoutException

    try:
        yield
    except LabError:
        raise
    except ResourceNotFoundError as exc:
        raise BackendError(f"{what}: the API server does not serve this kind ({exc}); for Istio kinds, "
                           f"is Istio installed in the cluster (`istioctl install`)?") from exc
    except ResourceNotUniqueError as exc:
        raise BackendError(f"{what}: ambiguous kind ({exc}); give the full apiVersion") from exc
    except ApiException as exc:  # DynamicApiError (NotFoundError, ConflictError, …) is a subclass
        status, msg = exc.status, api_message(exc)
        if status in (401, 403):
            raise BackendError(f"{what}: the API server refused the credentials of this context "
                               f"(HTTP {status}: {msg})") from exc
        if status == 404:
            raise BackendError(f"{what}: not found (HTTP 404: {msg})") from exc
        if status in (400, 422):
            raise BackendError(f"{what}: the API server rejected the object (HTTP {status}: {msg})") from exc
        if status == 409:
            raise BackendError(f"{what}: conflict (HTTP 409: {msg})") from exc
        if status == 504 or status == 408:
            raise BackendError(f"{what}: the API server timed out (HTTP {status}: {msg})") from exc
        raise BackendError(f"{what}: API error (HTTP {status}: {msg})") from exc
    except (NewConnectionError, ConnectionRefusedError) as exc:
        # Before the timeouts: urllib3's NewConnectionError subclasses its ConnectTimeoutError.
        raise BackendUnavailable(f"{what}: cannot reach the Kubernetes API server ({exc}); is the cluster "
                                 f"running? (`kind get clusters`, `kubectl cluster-info`)") from exc
    except MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError):
            raise BackendError(f"{what}: timed out talking to the API server ({reason})") from exc
        raise BackendUnavailable(f"{what}: cannot reach the Kubernetes API server ({reason or exc}); is the "
                                 f"cluster running? (`kind get clusters`, `kubectl cluster-info`)") from exc
    except (subprocess.TimeoutExpired, Urllib3Timeout, WebSocketTimeoutException, TimeoutError) as exc:
        raise BackendError(f"{what}: timed out ({exc})") from exc
    except (ProtocolError, ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise BackendUnavailable(f"{what}: cannot reach the Kubernetes API server ({reason}); is the cluster "
                                 f"running? (`kind get clusters`, `kubectl cluster-info`)") from exc
    except WebSocketException as exc:
        raise BackendError(f"{what}: the exec stream failed ({exc})") from exc
    except subprocess.CalledProcessError as exc:
        cmd = " ".join(exc.cmd) if isinstance(exc.cmd, list) else str(exc.cmd)
        said = _tail(exc.stderr) or _tail(exc.stdout)
        raise BackendError(f"{what}: `{cmd}` exited with status {exc.returncode}"
                           + (f":\n{said}" if said else "")) from exc
    except FileNotFoundError as exc:  # a CLI that is not on PATH
        tool = str(exc.filename or "").rsplit("/", 1)[-1]
        hint = INSTALL_HINTS.get(tool)
        if hint:
            raise BackendUnavailable(f"{what}: `{tool}` is not on PATH; {hint}") from exc
        raise BackendError(f"{what}: {exc}") from exc
    except ConfigException as exc:
        raise BackendUnavailable(f"{what}: cannot load the kubeconfig ({exc})") from exc
    except OSError as exc:
        raise BackendError(f"{what}: {exc}") from exc
