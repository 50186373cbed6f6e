"""The validator's reading of a service-go container's ``args`` agrees with the real app: hypothesis draws
argument lists (the app's flags with good and bad values, stray words), and for each the validator refuses
them (``args_problem``) exactly when ``python -m lablib.service_go`` started on them exits instead of
listening."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lablib.service_go.cli import args_problem

NUMBERS = st.sampled_from(["25", "0", "-1", "1.5", "0.5", "1e3", "abc", "", "nan", "503", "700", "99",
                           "60001"])
FLAG_AND_VALUE = st.one_of(
    st.tuples(st.sampled_from(["--service-time-ms", "--fault-code", "--fault-fraction", "--fault-delay-ms",
                               "--version", "--health-service"]), NUMBERS).map(list),
    st.sampled_from([["--fault-code"], ["--nope", "1"], ["stray"], ["-h"], ["--"], ["--service-time"]]),
)
ARGS = st.lists(FLAG_AND_VALUE, max_size=3).map(lambda parts: [a for part in parts for a in part])


def _starts(args: list[str], workdir: Path) -> bool:
    """Whether the real app, on ``args`` then the flags the lab appends, gets to listen (then it is
    stopped)."""
    port_file = workdir / "port"
    port_file.unlink(missing_ok=True)
    app = subprocess.Popen([sys.executable, "-m", "lablib.service_go", *args, "--port", "0", "--host",
                            "127.0.0.1", "--port-file", str(port_file)], cwd=workdir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if port_file.exists():
                return True
            if app.poll() is not None:
                return False
            time.sleep(0.01)
        raise AssertionError(f"service-go neither listened nor exited on {args}")
    finally:
        app.kill()
        app.wait()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ARGS)
def test_the_validator_refuses_exactly_the_args_the_app_exits_on(tmp_path: Path, args: list[str]) -> None:
    said = args_problem(args)
    assert (said is None) == _starts(args, tmp_path), (args, said)
