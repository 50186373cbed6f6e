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
from lablib.i18n import Msg

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
    """What to do about the API server's usual reasons for refusing an exec (a ``Msg``, or "")."""
    missing = re.search(r"container (\S+) is not valid for pod (\S+)", message)
    if missing and missing.group(1) == "istio-proxy":
        return Msg("kind.errors.exec_hint_no_sidecar", pod=missing.group(2))
    if "does not have a host assigned" in message:
        return Msg("kind.errors.exec_hint_unscheduled")
    return ""


def _said(exc: BaseException) -> object:
    """What ``exc`` says: the ``Msg`` it was raised with (lablib's own timeouts), else its text."""
    if len(exc.args) == 1 and hasattr(exc.args[0], "in_lang"):
        return exc.args[0]
    return str(exc)


def _tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


@contextlib.contextmanager
def _map_errors(what: str) -> Iterator[None]:
    """Run the block; re-raise anything it throws as the most specific ``LabError``, prefixed with
    ``what`` (a command, or a ``Msg`` saying what was being done). The messages are ``Msg``s; what the API
    server, the client or the tool said stays verbatim inside them."""
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
        raise BackendError(Msg("kind.errors.not_served", what=what, error=str(exc))) from exc
    except ResourceNotUniqueError as exc:
        raise BackendError(Msg("kind.errors.ambiguous", what=what, error=str(exc))) from exc
    except ApiException as exc:  # DynamicApiError (NotFoundError, ConflictError, …) is a subclass
        status, msg = exc.status, api_message(exc)
        handshake = exec_handshake(exc) if status == 0 else None
        if handshake is not None:
            code, said = handshake
            raise BackendError(Msg("kind.errors.exec_refused", what=what, code=code, said=said,
                                   hint=_exec_hint(said))) from exc
        if status == 0:  # the client's way of saying "no HTTP answer" (a stream that failed to open)
            raise BackendError(Msg("kind.errors.no_answer", what=what, said=msg)) from exc
        if status in (401, 403):
            raise BackendError(Msg("kind.errors.credentials", what=what, status=status, said=msg)) from exc
        if status == 404:
            raise BackendError(Msg("kind.errors.not_found", what=what, said=msg)) from exc
        if status in (400, 422):
            raise BackendError(Msg("kind.errors.rejected", what=what, status=status, said=msg)) from exc
        if status == 409:
            raise BackendError(Msg("kind.errors.conflict", what=what, said=msg)) from exc
        if status == 504 or status == 408:
            raise BackendError(Msg("kind.errors.server_timeout", what=what, status=status, said=msg)) from exc
        raise BackendError(Msg("kind.errors.api_error", what=what, status=status, said=msg)) from exc
    except (NewConnectionError, ConnectionRefusedError) as exc:
        # Before the timeouts: urllib3's NewConnectionError subclasses its ConnectTimeoutError.
        raise BackendUnavailable(Msg("kind.errors.unreachable", what=what, error=str(exc))) from exc
    except MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError):
            raise BackendError(Msg("kind.errors.timeout_talking", what=what, error=str(reason))) from exc
        raise BackendUnavailable(Msg("kind.errors.unreachable", what=what, error=str(reason or exc))) from exc
    except (subprocess.TimeoutExpired, Urllib3Timeout, WebSocketTimeoutException, TimeoutError) as exc:
        raise BackendError(Msg("kind.errors.timeout", what=what, error=_said(exc))) from exc
    except (ProtocolError, ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise BackendUnavailable(Msg("kind.errors.unreachable", what=what, error=str(reason))) from exc
    except WebSocketException as exc:
        raise BackendError(Msg("kind.errors.stream_failed", what=what, error=str(exc))) from exc
    except subprocess.CalledProcessError as exc:
        cmd = " ".join(exc.cmd) if isinstance(exc.cmd, list) else str(exc.cmd)
        said = _tail(exc.stderr) or _tail(exc.stdout)
        if said:
            raise BackendError(Msg("kind.errors.exited_said", what=what, command=cmd, code=exc.returncode,
                                   said=said)) from exc
        raise BackendError(Msg("kind.errors.exited", what=what, command=cmd, code=exc.returncode)) from exc
    except FileNotFoundError as exc:  # a CLI that is not on PATH
        tool = str(exc.filename or "").rsplit("/", 1)[-1]
        hint = INSTALL_HINTS.get(tool)
        if hint:
            raise BackendUnavailable(Msg("kind.errors.not_on_path", what=what, tool=tool, hint=hint)) from exc
        raise BackendError(Msg("kind.errors.os", what=what, error=str(exc))) from exc
    except ConfigException as exc:
        raise BackendUnavailable(Msg("kind.errors.kubeconfig", what=what, error=str(exc))) from exc
    except OSError as exc:
        raise BackendError(Msg("kind.errors.os", what=what, error=_said(exc))) from exc
    except ValueError as exc:  # e.g. the typed client's model rejecting what a server answered
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(Msg("kind.errors.unexpected", what=what, said=first)) from exc
