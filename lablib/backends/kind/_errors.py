"""The one boundary where errors from the kubernetes client, urllib3, websocket and subprocesses become lablib
errors (like httpx's ``map_httpcore_exceptions``): most specific match first, the original kept as
``__cause__``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import subprocess
from collections.abc import Iterator

from lablib._exceptions import BackendError, BackendUnavailable, LabError
from lablib.backends.kind._detect import INSTALL_HINTS

__all__ = ["_map_errors", "api_message", "exec_handshake"]


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


_HANDSHAKE = re.compile(r"Handshake status (\d{3})")


def exec_handshake(exc: BaseException) -> tuple[int, str] | None:
    """(HTTP status, the API server's message) of an exec whose WebSocket handshake was refused.

    The client reports those as ``ApiException(status=0)`` whose reason is websocket-client's text,
    ``Handshake status 400 Bad Request -+-+- {headers} -+-+- {"kind":"Status",…}`` (older releases: the body
    as a ``b'…'`` literal), raised while handling websocket-client's exception (``__context__``), which
    carries the body itself.
    """
    reason = str(getattr(exc, "reason", "") or exc)
    found = _HANDSHAKE.search(reason)
    if found is None:
        return None
    bodies: list[object] = [getattr(exc.__context__, "resp_body", None), reason.rsplit(" -+-+- ", 1)[-1]]
    for body in bodies:
        if isinstance(body, str) and body.startswith(("b'", 'b"')):
            with contextlib.suppress(ValueError, SyntaxError):
                body = ast.literal_eval(body)
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str) and body.strip().startswith("{"):
            with contextlib.suppress(ValueError):
                status = json.loads(body)
                if isinstance(status, dict) and status.get("message"):
                    return int(found.group(1)), str(status["message"])
    return int(found.group(1)), reason.split(" -+-+- ")[0]


def _exec_hint(message: str) -> str:
    """What to do about the API server's usual reasons for refusing an exec."""
    missing = re.search(r"container (\S+) is not valid for pod (\S+)", message)
    if missing and missing.group(1) == "istio-proxy":
        return (f"; pod {missing.group(2)} has no istio-proxy container: Istio's sidecar injection did not "
                f"happen. Label its namespace (`kubectl label namespace NS istio-injection=enabled`), check "
                f"istiod runs, then re-create the pod")
    if "does not have a host assigned" in message:
        return ("; the pod is not scheduled on any node, so no container runs to exec into (a cluster "
                "without nodes or a kubelet cannot run the lab's traffic)")
    return ""


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
        handshake = exec_handshake(exc) if status == 0 else None
        if handshake is not None:
            code, said = handshake
            raise BackendError(f"{what}: the API server refused the exec (HTTP {code}: {said})"
                               f"{_exec_hint(said)}") from exc
        if status == 0:  # the client's way of saying "no HTTP answer" (a stream that failed to open)
            raise BackendError(f"{what}: the request failed before the API server answered ({msg})") from exc
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
    except ValueError as exc:  # e.g. the typed client's model rejecting what a server answered
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"{what}: unexpected answer from the API server ({first})") from exc
