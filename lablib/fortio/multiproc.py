"""Several worker processes for one run, like Go spreading goroutines over OS threads.

Each process runs a share of the threads on its own event loop (``engine.LoopRun``) and talks JSON lines
with the parent on stdin/stdout: ``ready`` (+ each thread's warmup code and size) after its warmup,
``go`` from the parent (the barrier, so every thread starts together, once ``engine.check_warmup``
passed), ``done`` counts for progress, then each thread's histograms, which merge by adding bucket
counts. Used only when asked (``-lablib-procs``): one event loop already outruns ``hey`` on this machine
(see ``bench/bench_fortio.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from lablib._exceptions import FortioError
from lablib.fortio.engine import LoopRun, Shared, ThreadData, WarmupCall, check_warmup, new_loop
from lablib.fortio.http_client import Target
from lablib.fortio.options import LoadOptions
from lablib.fortio.periodic import RunPlan
from lablib.i18n import Msg

__all__ = ["run_multi", "thread_groups", "worker_main"]


def run_multi(options: LoadOptions, plan: RunPlan, target: Target, shared: Shared, procs: int):
    """Spread the threads over ``procs`` processes; a barrier after warmup; merge per-thread data."""
    groups = thread_groups(plan.num_threads, procs, options.streams if options.grpc else 1)
    spec = {
        "options": {**dataclasses.asdict(options), "procs": 1},
        "plan": dataclasses.asdict(plan) | {"warnings": []},
        "target": dataclasses.asdict(target) | {"request": target.request.decode("latin-1")},
    }
    children = []
    env = dict(os.environ, LABLIB_FORTIO_PROCS="1")
    try:
        for g in groups:
            p = subprocess.Popen(
                [sys.executable, "-m", "lablib.fortio._worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                bufsize=1,
            )
            assert p.stdin is not None
            p.stdin.write(json.dumps({**spec, "threads": g}) + "\n")
            p.stdin.flush()
            children.append(p)
        # barrier: each child says "ready" (after its warmup)
        calls: dict[int, WarmupCall] = {}
        for p in children:
            msg = _read_msg(p)
            if msg.get("error"):
                raise FortioError(msg["error"])
            calls.update({int(tid): tuple(call) for tid, call in msg.get("warmup", {}).items()})  # type: ignore[misc]
        warm: dict[int | str, int] = {}
        if plan.exactly == 0:
            warm = check_warmup(calls, target.url,
                                allow_initial_errors=options.allow_initial_errors)
        shared.phase = "run"
        shared.run_start = time.monotonic()
        start_ns = time.time_ns()
        t0 = time.perf_counter_ns()
        for p in children:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        # progress: children print {"done": n} lines; read them on small threads
        per_child_done = [0] * len(children)
        finals: list[dict[str, Any] | None] = [None] * len(children)

        def reader(k: int, p: subprocess.Popen) -> None:
            while True:
                msg = _read_msg(p)
                if "done" in msg:
                    per_child_done[k] = msg["done"]
                    shared.done = sum(per_child_done)
                if "log" in msg:
                    shared.log.extend(msg["log"])
                if "threads" in msg or "error" in msg or msg.get("eof"):
                    finals[k] = msg
                    return

        readers = [threading.Thread(target=reader, args=(k, p), daemon=True) for k, p in enumerate(children)]
        for r in readers:
            r.start()
        while any(r.is_alive() for r in readers):
            if shared.stop.is_set():
                for p in children:
                    if p.stdin is not None and not p.stdin.closed:
                        try:
                            p.stdin.write("stop\n")
                            p.stdin.flush()
                        except OSError:
                            pass
            for r in readers:
                r.join(0.05)
        elapsed = time.perf_counter_ns() - t0
        threads: dict[int, ThreadData] = {}
        for k, msg in enumerate(finals):
            if not msg or "threads" not in msg:
                err = (msg or {}).get("error") or children[k].stderr.read()  # type: ignore[union-attr]
                raise FortioError(Msg("fortio.multiproc.worker_failed", err=err))
            for tid, state in msg["threads"].items():
                threads[int(tid)] = ThreadData.from_state(state)
        return [threads[i] for i in range(plan.num_threads)], start_ns, elapsed, warm
    finally:
        shared.phase = "done"
        for p in children:
            try:
                if p.stdin is not None:
                    p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                if f is not None:
                    f.close()


def thread_groups(threads: int, procs: int, streams: int = 1) -> list[list[int]]:
    """The threads of each process: round-robin, but the ``streams`` threads of a gRPC connection together."""
    connections = range((threads + streams - 1) // streams)
    groups = [[t for c in connections[p::procs] for t in range(c * streams, min((c + 1) * streams, threads))]
              for p in range(procs)]
    return [g for g in groups if g]


def _read_msg(p: subprocess.Popen) -> dict[str, Any]:
    assert p.stdout is not None
    line = p.stdout.readline()
    if not line:
        return {"eof": True,
                "error": Msg("fortio.multiproc.worker_exited", stderr=p.stderr.read() if p.stderr else "")}
    msg = json.loads(line)
    error = msg.get("error")
    if isinstance(error, dict):  # a child's exception: its type and its (Msg) text
        msg["error"] = Msg("fortio.multiproc.child_error", type=error["type"], err=_from_json(error["text"]))
    return msg


def _to_json(text: Any) -> Any:
    """A message as JSON for the pipe: a Msg as its key and values (Msgs inside too), so the parent can
    show a child's error in the notebook's language; anything else as it is (or its str)."""
    if isinstance(text, Msg):
        return {"msg": text.key, "values": {k: _to_json(v) for k, v in text.values.items()}}
    if isinstance(text, (list, tuple)):
        return [_to_json(v) for v in text]
    return text if isinstance(text, (str, int, float, bool)) or text is None else str(text)


def _from_json(data: Any) -> Any:
    """The inverse of ``_to_json``."""
    if isinstance(data, dict) and "msg" in data:
        return Msg(data["msg"], **{k: _from_json(v) for k, v in data["values"].items()})
    if isinstance(data, list):
        return [_from_json(v) for v in data]
    return data


def worker_main() -> int:
    """Entry of a worker process: run some threads, talk JSON lines on stdin/stdout."""
    spec = json.loads(sys.stdin.readline())
    o = spec["options"]
    o["percentiles"] = tuple(o["percentiles"])
    o["headers"] = tuple(tuple(h) for h in o["headers"])
    o["connect_to"] = tuple(o["connect_to"]) if o["connect_to"] else None
    options = LoadOptions(**o)
    plan = RunPlan(**spec["plan"])
    t = spec["target"]
    target = Target(**{**t, "request": t["request"].encode("latin-1"),
                       "headers": tuple(tuple(h) for h in t.get("headers", ()))})
    shared = Shared()
    loop = new_loop()
    out_lock = threading.Lock()

    def send(msg: dict[str, Any]) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(msg) + "\n")
            sys.stdout.flush()

    run = LoopRun(options, plan, target, spec["threads"], shared, loop)
    go_event = asyncio.Event()

    def stdin_reader() -> None:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "go":
                loop.call_soon_threadsafe(go_event.set)
            elif cmd == "stop":
                shared.stop.set()
        shared.stop.set()  # the parent went away (or aborted after warmup): don't wait for "go"
        loop.call_soon_threadsafe(go_event.set)

    async def go() -> None:
        warm = {str(tid): call for tid, call in run.warmup_calls().items()}
        send({"ready": True, "warmup": warm if plan.exactly == 0 else {}})
        await go_event.wait()

    async def progress() -> None:
        last = -1
        while True:
            await asyncio.sleep(0.1)
            logs = shared.drain_log()
            if shared.done != last or logs:
                last = shared.done
                send({"done": shared.done, "log": logs})

    async def main() -> None:
        threading.Thread(target=stdin_reader, daemon=True).start()
        prog = loop.create_task(progress())
        try:
            await run.main(do_warmup=plan.exactly == 0, go=go)
        finally:
            prog.cancel()
        send({"done": shared.done, "log": shared.drain_log()})
        send({"threads": {str(th.idx): th.data.to_state() for th in run.threads}})

    try:
        loop.run_until_complete(main())
    except Exception as e:  # reported to the parent, which raises FortioError
        text = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], Msg) else str(e)
        send({"error": {"type": type(e).__name__, "text": _to_json(text)}})
        return 1
    finally:
        loop.close()
    return 0


# ---------------------------------------------------------------------------------------------
