"""``python -m lablib validate`` as a subprocess transcript: FILE:LINE: lines, a summary, the exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def validate(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lablib", "validate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_shipped_manifests_validate_with_warnings_only():
    run = validate(
        "manifests/kubernetes",
        "manifests/service/go/service-go.yaml",
        "manifests/istio/resilience/destination-rule-go-cb.yaml",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "manifests/istio/resilience/destination-rule-go-cb.yaml:23: warning: DestinationRule/service-go: "
        "spec.trafficPolicy.outlierDetection.consecutiveErrors: consecutiveErrors is deprecated and IGNORED "
        "by Istio >= 1.7, so Envoy's default applies: a host is ejected after 5 consecutive 5xx responses, "
        "not 3; use `consecutive5xxErrors: 3` (every 5xx counts, 500 included) or "
        "`consecutiveGatewayErrors: 3` "
        "(only 502, 503 and 504 count)",
        run.stdout.splitlines()[-1],
    ]
    # other helpers add manifests beside these: the count of files may grow, the verdict may not
    assert re.fullmatch(
        r"\d+ file\(s\), \d+ object\(s\): 0 error\(s\), 1 warning\(s\)", run.stdout.splitlines()[-1]
    )
    assert run.stderr == ""


def test_a_clean_file_says_no_problems():
    run = validate("manifests/istio/route/virtual-service-go.yaml")
    assert (run.returncode, run.stdout) == (0, "1 file(s), 1 object(s): no problems\n")


def test_the_seed_as_printed_in_the_book_fails_with_the_full_width_colon(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "apiVersion\uff1anetworking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata:\n  name: x\n",
        encoding="utf-8",
    )
    run = validate(str(seed))
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[0] == (
        f"{seed}:1: line 1 uses a full-width colon '：' (U+FF1A); YAML needs the ASCII ':'; "
        "replace '：' with ': ' (an ASCII colon and a space)"
    )
    assert lines[1].startswith(f"{seed}:2: invalid YAML: mapping values are not allowed")  # both parsers
    assert lines[-1] == "1 file(s), 0 object(s): 2 error(s), 0 warning(s)"


def test_errors_across_files_exit_1():
    run = validate("manifests/istio/route/virtual-service-go-v1-v2-50.yaml")
    assert run.returncode == 1
    assert run.stdout.count("IST0101") == 2
    run = validate(
        "manifests/istio/resilience/destination-rule-go-cb.yaml",
        "manifests/istio/route/virtual-service-go-v1-v2-50.yaml",
    )
    assert run.returncode == 0 and "IST0101" not in run.stdout


def test_usage_errors_exit_2_without_a_traceback(tmp_path):
    for args, message in [
        ((), "no file given"),
        (("--frobnicate", "x.yaml"), "unknown option --frobnicate"),
        (("missing.yaml",), "missing.yaml: no such file or directory"),
        ((str(tmp_path),), "no .yaml or .yml file"),
    ]:
        run = validate(*args)
        assert run.returncode == 2, args
        assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert run.stdout == ""


def test_help_exits_0():
    run = validate("--help")
    assert run.returncode == 0 and run.stdout.startswith("usage: python -m lablib validate")


def test_a_directory_is_every_yaml_under_it_except_kind_cluster_configs():
    run = validate("manifests")
    assert run.returncode == 0, run.stdout
    assert re.fullmatch(
        r"\d+ file\(s\), \d+ object\(s\): 0 error\(s\), \d+ warning\(s\)", run.stdout.splitlines()[-1]
    )
    assert "cluster.yaml" not in run.stdout and "istio-crds.yaml" not in run.stdout  # cluster set-up files
    run = validate("manifests/kind/cluster.yaml")
    assert run.returncode == 1 and "kind create cluster --config" in run.stdout
