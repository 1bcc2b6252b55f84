"""Load benchmark: many simultaneous calls through one server process (issue #5).

Run by hand, from the repository root:

    python benchmarks/load.py              # 1, 25, 50, 100 calls x asyncio, uvloop; two workers
    python benchmarks/load.py --quick      # 10 s windows
    python benchmarks/load.py --calls 50,100 --workers uvloop --repeat 2
    python benchmarks/load.py --calls 40 --layouts uvicorn,hypercorn,uvicorn+pcmu

The service runs as the Procfile runs it (uvicorn; or Hypercorn), pinned to CPU 0
and started fresh for every run; SecantusDB and this generator (Twilio callers, the OpenAI
Realtime stand-in and the Twilio REST stand-in, all in one process) share CPU 1. It prints
a Markdown table and writes every figure to --json. benchmarks/README.md has the method
and the results.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load_peers import ACCOUNT, MARK_MOD, Caller, ModelConn, ModelPeer, Scenario
from load_proc import (
    cmdline,
    cpu_seconds,
    cpu_split,
    cpu_times,
    descendants,
    rss_bytes,
    socket_owners,
    tcp_sockets,
)
from load_wire import http_request, now_ns

from persistence.embedded import free_loopback_port
from persistence.store import Store
from tests.support.servers import procfile_command
from tests.support.telephony_fixtures import AUTH_TOKEN, PUBLIC
from tests.support.twilio_peer import sid, sign
from tests.support.twilio_rest_peer import TwilioRestPeer

ROOT = Path(__file__).resolve().parents[1]
APP = "service.asgi:app"
STREAM_URL = re.compile(rb'<Stream [^>]*url="wss://[^/"]+(/twilio/media-stream/[^"]+)"')
SERVERS = ("uvicorn", "hypercorn", "granian")
HOST = "127.0.0.1"
SERVER_CPU = "0"
GENERATOR_CPU = 1
STREAM_DELAY_S = 0.2  # Twilio opens the stream a moment after it gets the TwiML
RAMP_PER_S = 20.0
FOREIGN_LIMIT_PCT = 3.0  # more than this on the server's CPU from elsewhere: run again
PRECONNECT_TTL_S = 30.0  # bridge.pending.PendingSessions' default
WARMUP_INDEX = MARK_MOD - 1
LATE_MS = 20.0  # a frame period late
GOAL_MS = 5.0
MIB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- processes ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(
    host: str = HOST, cpu: int | None = GENERATOR_CPU
) -> AsyncIterator[tuple[str, int]]:
    """A fresh in-memory SecantusDB on the generator's CPU: (URI, pid).

    One per run: an in-memory server kept across runs grows slower with every run, and
    its CPU is taken from the generator's core.
    """
    port = free_loopback_port()
    cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd += [sys.executable, "-m", "secantus"]
    cmd += ["--host", host, "--port", str(port), "--storage-path", ":memory:"]
    cmd += ["--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_port(port, host=host)
        yield f"mongodb://{host}:{port}/?directConnection=true", proc.pid
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait)


async def wait_port(port: int, timeout: float = 30.0, host: str = HOST) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    host: str = HOST  # where it answers

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def workers(self) -> list[int]:
        return [p for p in descendants(self.proc.pid) if "spawn_main" in cmdline(p)]

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}")
            try:
                status, _ = await http_request(self.host, self.port, "GET", "/readyz", timeout=2)
                if status == 200:
                    return
            except (OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready; see {self.log_path}")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                for pid in self.pids()[::-1]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def log_lines(self, level: str) -> list[str]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            tagged = f'"level": "{level}"' in line or f'"level":"{level}"' in line
            if tagged or (level == "ERROR" and line.startswith("Traceback")):
                out.append(line)
        return out


GC_PROBE = """\
# Written by benchmarks/load.py --gc-log: logs every garbage collection of this process.
import gc, os, time

_log = open(os.environ["VOICE_BENCH_GC_LOG"] + "." + str(os.getpid()), "a", buffering=1)
_start = [0.0]


def _probe(phase, info):
    if phase == "start":
        _start[0] = time.perf_counter()
    else:
        ms = (time.perf_counter() - _start[0]) * 1000
        _log.write("%d %d %.3f %d\\n" % (time.time_ns(), info["generation"], ms, info["collected"]))


gc.callbacks.append(_probe)
"""


def gc_probe_env(log_dir: Path, name: str) -> dict[str, str]:
    """PYTHONPATH with a sitecustomize that logs the server's garbage collections."""
    site = log_dir / "gc-probe"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GC_PROBE)
    return {"PYTHONPATH": str(site), "VOICE_BENCH_GC_LOG": str(log_dir / f"gc-{name}")}


def gc_pauses(log_dir: Path, name: str, t0: int, t1: int) -> dict[str, float]:
    """Collections of each generation inside [t0, t1), and the longest pause, from the probe."""
    counts = [0, 0, 0]
    longest = [0.0, 0.0, 0.0]
    total_ms = 0.0
    for path in log_dir.glob(f"gc-{name}.*"):
        for line in path.read_text().splitlines():
            at, gen, ms, _ = line.split()
            if t0 <= int(at) < t1:
                g = int(gen)
                counts[g] += 1
                longest[g] = max(longest[g], float(ms))
                total_ms += float(ms)
    return {
        "gen0": counts[0],
        "gen1": counts[1],
        "gen2": counts[2],
        "gen2_longest_ms": round(longest[2], 1),
        "gen1_longest_ms": round(longest[1], 1),
        "total_ms": round(total_ms, 1),
    }


def start_server(
    *,
    worker_class: str,
    workers: int,
    cpus: str | None,
    db_uri: str,
    db_name: str,
    model_url: str,
    rest_url: str,
    log_dir: Path,
    log_level: str = "WARNING",
    extra_env: dict[str, str] | None = None,
    server: str = "uvicorn",
    audio_format: str = "pcm16",
    cap: int = 0,
    root: Path = ROOT,
) -> Server:
    """`root`: the checkout whose code and Procfile the server runs (another commit)."""
    port = free_loopback_port()
    env = dict(os.environ)
    env.update(
        MONGODB_URI=db_uri,
        MONGODB_DB=db_name,
        PUBLIC_URL=PUBLIC,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_API_URL=rest_url,
        OPENAI_API_KEY="sk-test",
        OPENAI_REALTIME_URL=model_url,
        LOG_LEVEL=log_level,
        MAX_CALL_SECONDS="600",
        AUDIO_FORMAT=audio_format,
        MAX_CALLS_PER_WORKER=str(cap),
    )
    env.update(extra_env or {})
    cmd = ["taskset", "-c", cpus] if cpus else []
    if server == "uvicorn":
        args = procfile_command(port, HOST, root / "Procfile")  # the checkout's own
        args[args.index("--loop") + 1] = worker_class  # the event loop under test
        cmd += [sys.executable, "-m", *args]
        cmd += ["--no-access-log", "--log-level", "warning"]
        if workers > 1:
            cmd += ["--workers", str(workers)]
    elif server == "granian":
        # Measured beside uvicorn for the media-stream route (not a dependency: install it
        # by hand to run this layout). One worker, one runtime thread: one core, as uvicorn.
        cmd += [sys.executable, "-m", "granian", "--interface", "asgi", APP]
        cmd += ["--host", HOST, "--port", str(port), "--loop", worker_class]
        cmd += ["--workers", str(workers), "--runtime-threads", "1", "--runtime-mode", "st"]
        cmd += ["--no-access-log", "--log-level", "warning", "--ws"]
    else:
        cmd += [sys.executable, "-m", "hypercorn", APP, "--bind", f"{HOST}:{port}"]
        cmd += ["--worker-class", worker_class, "--workers", str(workers)]
    log_path = log_dir / f"server-{db_name}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(proc, port, log_path)


# -- calls -------------------------------------------------------------------------------


class CallRefused(Exception):
    """The worker was at MAX_CALLS_PER_WORKER and answered with its busy message."""


async def ring(port: int, call_sid: str, answered: dict[str, str] | None = None) -> str:
    """Twilio's signed voice webhook on a fresh connection; the answer must be a stream.
    Returns the path of the stream's URL, as Twilio would connect to it."""
    form = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": "+14155550123",
        "To": "+14155550100",
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC + "/twilio/voice", form),
    }
    body = urlencode(form).encode()
    status, answer = await http_request(
        HOST, port, "POST", "/twilio/voice", body, headers, answered=answered
    )
    if status == 200 and b"busy" in answer and b"<Stream" not in answer:
        raise CallRefused(call_sid)
    found = STREAM_URL.search(answer)
    if status != 200 or found is None:
        raise RuntimeError(f"voice webhook answered {status}: {answer[:200]!r}")
    return found.group(1).decode()


async def dial(port: int, index: int, rest: TwilioRestPeer) -> Caller:
    call_sid = sid("CA")
    rest.live_calls.add(call_sid)  # Twilio's REST API only updates calls in progress
    path = await ring(port, call_sid)
    await asyncio.sleep(STREAM_DELAY_S)
    caller = Caller(index, call_sid, HOST, port, path)
    await caller.connect()
    return caller


async def ramp(
    port: int, n: int, callers: dict[str, Caller], rest: TwilioRestPeer
) -> tuple[list[str], int]:
    """Dial n calls at RAMP_PER_S; returns the failures and the calls refused as busy."""
    start = time.monotonic()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / RAMP_PER_S - time.monotonic()))
        caller = await dial(port, i, rest)
        callers[caller.call_sid] = caller

    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    refused = sum(isinstance(r, CallRefused) for r in failed)
    return [f"{type(r).__name__}: {r}" for r in failed if not isinstance(r, CallRefused)], refused


async def wait_until(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


@dataclass
class Ending:
    closed_by_server: int = 0
    finalized: int = 0
    frames_match: int = 0
    problems: list[str] = field(default_factory=list)


async def hang_up_all(callers: Iterable[Caller], db_uri: str, db_name: str) -> Ending:
    """Send `stop` on every stream, then check every call document was finalized."""
    callers = list(callers)
    ending = Ending()
    closed = await asyncio.gather(*(c.stop() for c in callers))
    ending.closed_by_server = sum(closed)
    store = Store.connect(db_uri, db_name)
    try:
        pending = {c.call_sid: c for c in callers}
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for call_sid, caller in list(pending.items()):
                record = await store.calls.get(call_sid)
                if record is None or "ended" not in record.timings or record.completion is None:
                    continue
                del pending[call_sid]
                ending.finalized += 1
                frames_in = record.stream.frames_in if record.stream else None
                if frames_in == len(caller.sent_ns):
                    ending.frames_match += 1
                else:
                    ending.problems.append(
                        f"{call_sid}: stream.frames_in {frames_in} != {len(caller.sent_ns)} sent"
                    )
            if pending:
                await asyncio.sleep(0.25)
        ending.problems += [f"{s}: call document not finalized" for s in pending]
    finally:
        await store.close()
    return ending


# -- analysis ----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class Flow:
    """One direction's added latency (ms) over the window, and what went missing."""

    latencies: list[float] = field(default_factory=list)
    slow_at: list[tuple[int, float]] = field(default_factory=list)  # (send ns, ms) over GOAL_MS
    sent: int = 0
    dropped: int = 0
    late: int = 0
    t0: int = 0

    def add(self, sent_at: int, ms: float) -> None:
        self.latencies.append(ms)
        self.late += ms > LATE_MS
        if ms > GOAL_MS:
            self.slow_at.append((sent_at, ms))

    def summary(self) -> dict[str, Any]:
        return {
            "p50_ms": round(pct(self.latencies, 50), 2),
            "p99_ms": round(pct(self.latencies, 99), 2),
            "max_ms": round(max(self.latencies, default=float("nan")), 2),
            "messages": len(self.latencies),
            "sent": self.sent,
            "dropped": self.dropped,
            "late": self.late,
            "stalls": self.stalls(),
        }

    def stalls(self, gap_ns: int = 100_000_000) -> list[tuple[float, float]]:
        """Episodes of frames over GOAL_MS: (start, seconds since t0, worst ms), merged by gap."""
        out: list[tuple[float, float]] = []
        last = -(2**62)
        for at, ms in sorted(self.slow_at):
            if at - last > gap_ns:
                out.append(((at - self.t0) / 1e9, ms))
            else:
                out[-1] = (out[-1][0], max(out[-1][1], ms))
            last = at
        return [(round(a, 2), round(m, 1)) for a, m in out]


def inbound_flow(
    callers: list[Caller], conns: dict[int, list[ModelConn]], t0: int, t1: int
) -> Flow:
    """Caller frame k (send time) against the append carrying frame k (kernel receive time)."""
    flow = Flow(t0=t0)
    for caller in callers:
        appends: list[tuple[int, int]] = []
        for conn in conns.get(caller.index, []):
            appends += zip(conn.append_rx, conn.append_mark, strict=True)
        sent = caller.sent_ns
        flow.sent += len(sent)
        k = 0
        for rx, mark in appends:
            while k < len(sent) and k % MARK_MOD != mark:
                flow.dropped += 1
                k += 1
            if k >= len(sent):
                break
            if t0 <= sent[k] < t1:
                ms = (rx - sent[k]) / 1e6
                flow.add(sent[k], ms)
            k += 1
        flow.dropped += len(sent) - k
    return flow


def outbound_flow(
    callers: list[Caller], conns: dict[int, list[ModelConn]], t0: int, t1: int
) -> Flow:
    """Model delta (send time) against the media message made from it (kernel receive)."""
    flow = Flow(t0=t0)
    for caller in callers:
        sent: dict[int, int] = {}
        expected: set[int] = set()
        for conn in conns.get(caller.index, []):
            barged = {r.index % MARK_MOD for r in conn.replies if r.barge}
            for sent_at, tag in zip(conn.sent_ns, conn.sent_tag, strict=True):
                sent[tag] = sent_at
                if tag // 256 not in barged and t0 <= sent_at < t1:
                    expected.add(tag)
        received = set()
        for rx, tag in zip(caller.media_rx, caller.media_tag, strict=True):
            received.add(tag)
            at = sent.get(tag)
            if at is None or not t0 <= at < t1:
                continue
            flow.add(at, (rx - at) / 1e6)
        flow.sent += len(expected)
        flow.dropped += len(expected - received)
    return flow


def barge_errors(callers: list[Caller], conns: dict[int, list[ModelConn]]) -> list[float]:
    """Truncation point the service told the model minus what the caller had heard (ms)."""
    errors = []
    for caller in callers:
        replies = {r.index % MARK_MOD: r for c in conns.get(caller.index, []) for r in c.replies}
        truncates = {k: v for c in conns.get(caller.index, []) for k, v in c.truncates.items()}
        for response, heard_ms in caller.clears:
            reply = replies.get(response)
            if reply is not None and reply.item_id in truncates:
                errors.append(truncates[reply.item_id] - heard_ms)
    return errors


def generator_stalls(callers: list[Caller], t0: int, t1: int) -> list[tuple[float, float]]:
    """Episodes where the generator sent frames over GOAL_MS behind their schedule."""
    flow = Flow(t0=t0)
    for caller in callers:
        for at, late in zip(caller.sent_ns, caller.send_late_ms, strict=True):
            if t0 <= at < t1 and late > GOAL_MS:
                flow.slow_at.append((at, late))
    return flow.stalls()


def by_call(peer: ModelPeer) -> dict[int, list[ModelConn]]:
    out: dict[int, list[ModelConn]] = collections.defaultdict(list)
    for conn in peer.conns:
        if conn.call is not None:
            out[conn.call].append(conn)
    return out


def generator_lag_ms(callers: list[Caller], peer: ModelPeer) -> float:
    """p99 of (generator read time - kernel receive time): how late the generator reads."""
    lags: list[int] = []
    for caller in callers:
        if caller.ws is not None:
            lags += caller.ws.read_lag_ns
    for conn in peer.conns:
        lags += conn.ws.read_lag_ns
    return round(pct([x / 1e6 for x in lags], 99), 2)


# -- one level ---------------------------------------------------------------------------


@dataclass
class Options:
    window_s: float
    settle_s: float
    scenario: Scenario
    log_dir: Path
    profile_dir: Path | None = None
    gc_log: bool = False
    server: str = "uvicorn"
    audio_format: str = "pcm16"
    cap: int = 0  # MAX_CALLS_PER_WORKER; 0 measures past any cap
    root: Path = ROOT  # the checkout the server runs (another commit, for comparisons)

    @property
    def label(self) -> str:
        """The layout's name in the results: the server, and the checkout if not this one."""
        return self.server if self.root == ROOT else f"{self.server}@{self.root.name}"


@dataclass
class LevelResult:
    layout: str
    worker: str
    calls: int  # offered; with --cap, `refused` of them got the busy message
    window_s: float
    inbound: dict[str, Any]
    outbound: dict[str, Any]
    server_cpu_pct: float
    cpu_pct_per_call: float
    rss_base_mib: float
    rss_mib: float
    mib_per_call: float
    server_sys_pct: float
    generator_cpu_pct: float
    generator_sys_pct: float
    db_cpu_pct: float
    generator_lag_p99_ms: float
    generator_send_late_p99_ms: float
    generator_stalls: list[tuple[float, float]]
    cpu0_busy_pct: float
    cpu1_busy_pct: float
    foreign_cpu0_pct: float  # CPU 0 busy with anything but the server (other tenants' jobs)
    steal_pct: float
    barge_ins: int
    barge_err_p50_ms: float
    barge_err_max_ms: float
    greeted: int
    refused: int
    closed_by_server: int
    finalized: int
    frames_match: int
    errors: list[str]
    warnings: int
    gc: dict[str, float]
    host_speed_ms: float = float("nan")
    model_closed_mid_call: dict[str, int] = field(default_factory=dict)  # by close code
    reconnected_calls: int = 0
    rest_hang_ups: int = 0  # calls the service ended through Twilio's REST API


def busy_pct(before: dict[str, float], after: dict[str, float], wall: float) -> float:
    idle = sum(after[k] - before[k] for k in ("idle", "iowait"))
    return round(100 - idle / wall * 100, 1)


def _rusage() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


@contextlib.asynccontextmanager
async def peers(
    scenario: Scenario, callers: dict[str, Caller]
) -> AsyncIterator[tuple[ModelPeer, TwilioRestPeer]]:
    peer = ModelPeer(scenario)
    await peer.start()
    rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN)

    async def end_call(call_sid: str) -> None:
        # What Twilio does when a call is updated to completed: stop the stream.
        caller = callers.get(call_sid)
        if caller is not None:
            await caller.stop()

    rest.on_end = end_call
    try:
        async with rest.serving():
            yield peer, rest
    finally:
        await peer.close()


SPEED_PROBE = """\
import statistics, time
def work():
    s = 0
    for i in range(300000):
        s += i * i % 7
times = []
for _ in range(12):
    t = time.perf_counter(); work(); times.append((time.perf_counter() - t) * 1000)
    time.sleep(0.05)
print(round(statistics.median(times), 1))
"""


async def host_speed_ms() -> float:
    """Median time of a fixed pure-Python loop on the server's CPU, just before a run.

    On a shared virtual machine this moves by half between moments (another tenant on the
    same physical core); it says how fast the CPU was when the figures were taken.
    """
    proc = await asyncio.create_subprocess_exec(
        "taskset", "-c", SERVER_CPU, sys.executable, "-c", SPEED_PROBE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return float(out.decode().strip() or "nan")


async def run_level(worker: str, n: int, opts: Options) -> LevelResult:
    speed = await host_speed_ms()
    async with database() as (db_uri, db_pid):
        result = await _run_level(worker, n, opts, db_uri, db_pid)
    result.host_speed_ms = speed
    return result


async def _run_level(worker: str, n: int, opts: Options, db_uri: str, db_pid: int) -> LevelResult:
    db_name = f"bench_{worker}_{n}_{secrets.token_hex(3)}"
    callers: dict[str, Caller] = {}
    async with peers(opts.scenario, callers) as (peer, rest):
        server = start_server(
            worker_class=worker,
            workers=1,
            cpus=SERVER_CPU,
            db_uri=db_uri,
            db_name=db_name,
            model_url=peer.url,
            rest_url=rest.base,
            log_dir=opts.log_dir,
            extra_env=gc_probe_env(opts.log_dir, db_name) if opts.gc_log else None,
            server=opts.server,
            audio_format=opts.audio_format,
            cap=opts.cap,
            root=opts.root,
        )
        try:
            await server.ready()
            # One short call first, so lazy imports and first-use allocations are not
            # counted as the cost of the calls measured.
            warm = await dial(server.port, WARMUP_INDEX, rest)
            await wait_until(warm.heard_greeting, 10)
            await asyncio.sleep(1.0)
            await hang_up_all([warm], db_uri, db_name)
            await asyncio.sleep(1.0)
            rss_base = rss_bytes(server.pids())
            log(f"{worker} x{n}: dialing")
            failures, refused = await ramp(server.port, n, callers, rest)
            live = list(callers.values())
            await wait_until(lambda: all(c.heard_greeting() for c in live), 15)
            await asyncio.sleep(opts.settle_s)
            log(f"{worker} x{n}: measuring {opts.window_s:.0f} s")
            profiler = start_profiler(opts, server, worker, n)
            t0, cpu0, gen0 = now_ns(), cpu_split(server.pids()), _rusage()
            db0 = cpu_seconds([db_pid])
            host0 = [cpu_times(c) for c in (0, GENERATOR_CPU)]
            await asyncio.sleep(opts.window_s)
            t1, cpu1, gen1 = now_ns(), cpu_split(server.pids()), _rusage()
            db1 = cpu_seconds([db_pid])
            host1 = [cpu_times(c) for c in (0, GENERATOR_CPU)]
            rss = rss_bytes(server.pids())
            if profiler is not None:
                await asyncio.to_thread(profiler.wait)
            greeted = sum(c.heard_greeting() for c in live)
            log(f"{worker} x{n}: hanging up")
            stopping_at = time.monotonic()
            ending = await hang_up_all(live, db_uri, db_name)
        finally:
            await server.stop()
        wall = (t1 - t0) / 1e9
        conns = by_call(peer)
        inbound = inbound_flow(live, conns, t0, t1)
        outbound = outbound_flow(live, conns, t0, t1)
        barge = barge_errors(live, conns)
        model_closes = collections.Counter(
            f"{c.ws.close_code} {c.ws.close_reason}".strip()
            for c in peer.conns
            if c.closed_at is not None and c.closed_at < stopping_at and c.call != WARMUP_INDEX
        )
        errors = failures + ending.problems + server.log_lines("ERROR")[:10]
        errors += [f"Twilio REST stand-in: {e}" for e in rest.errors[:5]]
        errors += [
            f"model conn for call {c.call} saw {c.wrong_call} foreign frames"
            for c in peer.conns
            if c.wrong_call
        ]
        cpu_pct = (sum(cpu1) - sum(cpu0)) / wall * 100
        return LevelResult(
            layout=opts.label
            + ("" if opts.audio_format == "pcm16" else f" {opts.audio_format}")
            + (
                f" {opts.scenario.chunks_ms[0]} ms deltas"
                if len(opts.scenario.chunks_ms) == 1
                else ""
            ),
            worker=worker,
            calls=n,
            window_s=round(wall, 1),
            inbound=inbound.summary(),
            outbound=outbound.summary(),
            server_cpu_pct=round(cpu_pct, 1),
            cpu_pct_per_call=round(cpu_pct / max(1, len(live)), 2),
            rss_base_mib=round(rss_base / MIB, 1),
            rss_mib=round(rss / MIB, 1),
            mib_per_call=round((rss - rss_base) / MIB / max(1, len(live)), 2),
            server_sys_pct=round((cpu1[1] - cpu0[1]) / wall * 100, 1),
            generator_cpu_pct=round((sum(gen1) - sum(gen0)) / wall * 100, 1),
            generator_sys_pct=round((gen1[1] - gen0[1]) / wall * 100, 1),
            db_cpu_pct=round((db1 - db0) / wall * 100, 1),
            generator_lag_p99_ms=generator_lag_ms(live, peer),
            generator_send_late_p99_ms=round(pct([x for c in live for x in c.send_late_ms], 99), 2),
            generator_stalls=generator_stalls(live, t0, t1),
            cpu0_busy_pct=busy_pct(host0[0], host1[0], wall),
            cpu1_busy_pct=busy_pct(host0[1], host1[1], wall),
            foreign_cpu0_pct=round(max(0.0, busy_pct(host0[0], host1[0], wall) - cpu_pct), 1),
            steal_pct=round(
                sum(h1["steal"] - h0["steal"] for h0, h1 in zip(host0, host1, strict=True))
                / wall
                * 100,
                1,
            ),
            barge_ins=len(barge),
            barge_err_p50_ms=round(pct([abs(e) for e in barge], 50), 1),
            barge_err_max_ms=round(max((abs(e) for e in barge), default=float("nan")), 1),
            greeted=greeted,
            refused=refused,
            closed_by_server=ending.closed_by_server,
            finalized=ending.finalized,
            frames_match=ending.frames_match,
            errors=errors,
            warnings=len(server.log_lines("WARNING")),
            gc=gc_pauses(opts.log_dir, db_name, t0, t1) if opts.gc_log else {},
            model_closed_mid_call=dict(model_closes),
            rest_hang_ups=len(rest.updates),
            reconnected_calls=sum(1 for cs in conns.values() if sum(c.used for c in cs) > 1),
        )


def start_profiler(
    opts: Options, server: Server, worker: str, n: int
) -> subprocess.Popen[bytes] | None:
    if opts.profile_dir is None:
        return None
    pids = server.workers() or [server.proc.pid]
    layout = f"{opts.label}-{opts.audio_format}"
    out = opts.profile_dir / f"{layout}-{worker}-{n}.txt"
    cmd = ["taskset", "-c", str(GENERATOR_CPU), str(Path(sys.executable).parent / "py-spy")]
    cmd += ["record", "--pid", str(pids[0]), "--duration", str(int(opts.window_s))]
    cmd += ["--rate", "250", "--nonblocking", "--format", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


PROFILE_GROUPS = (
    ("Twilio-side HTTP/WebSocket server", ("hypercorn/", "wsproto/", "h11/", "uvicorn/")),
    ("Quart", ("quart/", "werkzeug/", "blinker/")),
    ("OpenAI-side WebSocket client", ("websockets/",)),
    ("audio conversion", ("bridge/audio.py", "numpy/", "base64.py")),
    ("bridge and telephony logic", ("bridge/", "telephony/", "evaluation/")),
    ("JSON", ("json/",)),
    ("MongoDB client", ("pymongo/", "bson/", "persistence/")),
    ("event loop, sockets, tasks", ("asyncio/", "selectors.py", "uvloop", "socket.py")),
    ("event loop, sockets, tasks", ("runners.py", "random.py")),
)


def profile_breakdown(path: Path) -> list[tuple[str, float]]:
    """Share of the server's samples by where the innermost frame is (py-spy raw output).

    Time in C and in system calls counts towards the Python frame that called it, so the
    event-loop share includes the kernel's work for socket reads and writes.
    """
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        group = "other"
        for name, keys in PROFILE_GROUPS:
            if any(k in leaf for k in keys):
                group = name
                break
        if group == "OpenAI-side WebSocket client" and "uvicorn/" in stack:
            group = "Twilio-side HTTP/WebSocket server"  # uvicorn's websockets protocol
        counts[group] += int(n)
        total += int(n)
    return [(g, round(100 * c / total, 1)) for g, c in counts.most_common()] if total else []


# -- two workers -------------------------------------------------------------------------


def new_connection(peer: ModelPeer, before: int) -> Callable[[], bool]:
    return lambda: len(peer.conns) > before


def call_in_use(peer: ModelPeer, index: int) -> Callable[[], bool]:
    return lambda: any(c.call == index and c.used for c in peer.conns)


@dataclass
class TwoWorkerResult:
    calls: int
    workers: list[int]
    streams_per_worker: dict[str, int]
    webhooks_per_worker: dict[str, int]
    split_calls: int  # webhook on one worker, stream on the other
    split_used_fresh_session: int  # ... and the stream's worker opened its own model session
    greeted: int
    appends_ok: int
    closed_by_server: int
    finalized: int
    frames_match: int
    unused_preconnects: int
    unused_closed: int
    unused_closed_after_s: list[float]
    expired_logged: int  # "pre-connected session closed unused: expired" lines in the server log
    unknown_owner: int  # calls whose sockets could not all be traced to a worker
    errors: list[str]


async def run_two_workers(n: int, opts: Options) -> TwoWorkerResult:
    async with database() as (db_uri, _):
        return await _run_two_workers(n, opts, db_uri)


async def _run_two_workers(n: int, opts: Options, db_uri: str) -> TwoWorkerResult:
    db_name = f"bench_w2_{secrets.token_hex(3)}"
    callers: dict[str, Caller] = {}
    async with peers(opts.scenario, callers) as (peer, rest):
        server = start_server(
            worker_class="uvloop",
            workers=2,
            server=opts.server,
            cpus=None,
            db_uri=db_uri,
            db_name=db_name,
            model_url=peer.url,
            rest_url=rest.base,
            log_dir=opts.log_dir,
            log_level="INFO",
        )
        try:
            await server.ready()
            await wait_until(lambda: len(server.workers()) == 2, 30)
            workers = server.workers()
            log(f"two workers {workers}: dialing {n} calls, one webhook connection each")
            preconnects: dict[str, ModelConn] = {}
            rang_at: dict[str, float] = {}
            for i in range(n):
                call_sid = sid("CA")
                before = len(peer.conns)
                rang_at[call_sid] = time.monotonic()
                rest.live_calls.add(call_sid)
                path = await ring(server.port, call_sid)
                await wait_until(new_connection(peer, before), 5)
                preconnects[call_sid] = peer.conns[before]
                await asyncio.sleep(STREAM_DELAY_S)
                caller = Caller(i, call_sid, HOST, server.port, path)
                await caller.connect()
                callers[call_sid] = caller
                # Wait for the session the stream uses, so that it is not mistaken for the
                # next call's pre-connected one.
                await wait_until(call_in_use(peer, i), 5)
            await asyncio.sleep(2.0)
            # Who holds which socket: the webhook's worker holds the pre-connected session,
            # the stream's worker holds the media-stream socket and the session in use.
            sockets, owners = tcp_sockets(), socket_owners(workers)

            def owner(local: int, remote: int) -> int:
                return owners.get(sockets.get((local, remote), -1), 0)

            conns = by_call(peer)
            webhook_at: dict[str, int] = {}
            stream_at: dict[str, int] = {}
            live_at: dict[str, int] = {}
            for call_sid, caller in callers.items():
                webhook_at[call_sid] = owner(preconnects[call_sid].remote_port, peer.port)
                stream_at[call_sid] = owner(server.port, caller.local_port)
                used = [c for c in conns.get(caller.index, []) if c.used]
                live_at[call_sid] = owner(used[0].remote_port, peer.port) if used else 0
            # Let the unused pre-connected sessions reach their 30 s expiry.
            log("two workers: waiting for unused pre-connected sessions to expire")
            last_ring = max(rang_at.values())
            await asyncio.sleep(max(0.0, last_ring + PRECONNECT_TTL_S + 1.5 - time.monotonic()))
            live = list(callers.values())
            greeted = sum(c.heard_greeting() for c in live)
            ending = await hang_up_all(live, db_uri, db_name)
            await asyncio.sleep(0.5)
        finally:
            await server.stop()
        inbound = inbound_flow(live, by_call(peer), 0, 2**62)
        appends_ok = sum(
            1
            for c in live
            if sum(len(m.append_rx) for m in by_call(peer).get(c.index, [])) == len(c.sent_ns)
        )
        split = [s for s in callers if webhook_at[s] != stream_at[s]]
        unused = [c for c in preconnects.values() if not c.used]
        closed = [c.closed_at - c.opened_at for c in unused if c.closed_at is not None]
        expired_logged = sum("closed unused: expired" in line for line in server.log_lines("INFO"))
        errors = ending.problems + server.log_lines("ERROR")[:10]
        if inbound.dropped:
            errors.append(f"{inbound.dropped} inbound frames dropped")
        return TwoWorkerResult(
            calls=n,
            workers=workers,
            streams_per_worker={str(w): sum(v == w for v in stream_at.values()) for w in workers},
            webhooks_per_worker={str(w): sum(v == w for v in webhook_at.values()) for w in workers},
            split_calls=len(split),
            split_used_fresh_session=sum(
                1 for s in split if live_at[s] == stream_at[s] and not preconnects[s].used
            ),
            greeted=greeted,
            appends_ok=appends_ok,
            closed_by_server=ending.closed_by_server,
            finalized=ending.finalized,
            frames_match=ending.frames_match,
            unused_preconnects=len(unused),
            unused_closed=len(closed),
            unused_closed_after_s=sorted(round(s, 1) for s in closed),
            expired_logged=expired_logged,
            unknown_owner=sum(0 in (webhook_at[s], stream_at[s], live_at[s]) for s in callers),
            errors=errors,
        )


# -- output ------------------------------------------------------------------------------


def med(values: Iterable[float]) -> float:
    return float(np.median(list(values)))


def table(results: list[LevelResult]) -> str:
    """One row per layout, loop and call count: medians over repeated runs."""
    groups: dict[tuple[str, str, int], list[LevelResult]] = {}
    for r in results:
        groups.setdefault((r.layout, r.worker, r.calls), []).append(r)
    head = (
        "| server / app | loop | calls | runs | in p50 / p99 ms | out p50 / p99 ms "
        "| in / out max ms | dropped in / out | late in / out % | server CPU % "
        "| CPU % per call | MiB per call | generator CPU % / its core busy % "
        "| barge-in error p50 / max ms |"
    )
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for (layout, worker, calls), rs in groups.items():
        i = [r.inbound for r in rs]
        o = [r.outbound for r in rs]

        def m(flows: list[dict[str, Any]], key: str) -> float:
            return med(f[key] for f in flows)

        def late(flows: list[dict[str, Any]]) -> float:
            return med(100 * f["late"] / max(1, f["messages"]) for f in flows)

        cpu = [r.server_cpu_pct for r in rs]
        span = f" ({min(cpu):.0f}-{max(cpu):.0f})" if len(rs) > 1 else ""
        saturated = " sat." if med(r.cpu0_busy_pct for r in rs) >= 95 else ""
        if max(r.foreign_cpu0_pct for r in rs) > FOREIGN_LIMIT_PCT:
            saturated += f" (+{max(r.foreign_cpu0_pct for r in rs):.0f} foreign)"
        rows.append(
            f"| {layout} | {worker} | {calls} | {len(rs)} "
            f"| {m(i, 'p50_ms'):.2f} / {m(i, 'p99_ms'):.2f} "
            f"| {m(o, 'p50_ms'):.2f} / {m(o, 'p99_ms'):.2f} "
            f"| {m(i, 'max_ms'):.0f} / {m(o, 'max_ms'):.0f} "
            f"| {sum(f['dropped'] for f in i)} / {sum(f['dropped'] for f in o)} "
            f"| {late(i):.2f} / {late(o):.2f} "
            f"| {med(cpu):.0f}{span}{saturated} "
            f"| {med(r.cpu_pct_per_call for r in rs):.2f} "
            f"| {med(r.mib_per_call for r in rs):.2f} "
            f"| {med(r.generator_cpu_pct for r in rs):.0f} / "
            f"{max(r.cpu1_busy_pct for r in rs):.0f} "
            f"| {med(r.barge_err_p50_ms for r in rs):.0f} / "
            f"{max(r.barge_err_max_ms for r in rs):.0f} |"
        )
    return "\n".join(rows)


def run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


async def main_async(args: argparse.Namespace) -> None:
    quick = args.quick
    window = args.window or (10.0 if quick else 30.0)
    log_dir = Path(tempfile.mkdtemp(prefix="voice-load-"))
    opts = Options(
        window_s=window,
        settle_s=2.0 if quick else 4.0,
        scenario=Scenario(chunks_ms=(args.delta_ms,)) if args.delta_ms else Scenario(),
        log_dir=log_dir,
        profile_dir=Path(args.profile) if args.profile else None,
        gc_log=args.gc_log,
        audio_format=args.audio_format,
        cap=args.cap,
    )
    if opts.profile_dir is not None:
        opts.profile_dir.mkdir(parents=True, exist_ok=True)
    calls = [int(c) for c in args.calls.split(",") if c]
    workers = [w for w in args.workers.split(",") if w]
    layouts = [x for x in args.layouts.split(",") if x]
    for layout in layouts:
        server, _, audio = layout.partition("@")[0].partition("+")
        root = Path(layout.partition("@")[2] or ROOT)
        if server not in SERVERS or audio not in ("", "pcmu") or not (root / "service").is_dir():
            raise SystemExit(
                f"unknown layout {layout!r}: use uvicorn|hypercorn|granian [+pcmu] [@CHECKOUT]"
            )
    results: list[LevelResult] = []
    two: TwoWorkerResult | None = None
    for rep in range(args.repeat):
        for layout in layouts:
            spec, _, root_dir = layout.partition("@")
            opts.server, _, audio = spec.partition("+")
            opts.audio_format = audio or args.audio_format
            opts.root = Path(root_dir or ROOT)
            for worker in workers:
                for n in calls:
                    for attempt in range(1 + args.retries):
                        result = await run_level(worker, n, opts)
                        if result.foreign_cpu0_pct <= FOREIGN_LIMIT_PCT:
                            break
                        log(
                            f"{layout} {worker} x{n}: {result.foreign_cpu0_pct} % of CPU 0 went "
                            "to other processes; "
                            + ("running it again" if attempt < args.retries else "kept, flagged")
                        )
                    results.append(result)
                    log(
                        f"run {rep + 1}: {layout} {worker} x{n}: in p99 "
                        f"{result.inbound['p99_ms']} ms, out p99 "
                        f"{result.outbound['p99_ms']} ms, CPU {result.server_cpu_pct} %, "
                        f"generator {result.generator_cpu_pct} %"
                    )
    if not args.no_two_workers:
        two = await run_two_workers(args.two_worker_calls, opts)
    out = {
        "window_s": window,
        "scenario": asdict(opts.scenario),
        "levels": [asdict(r) for r in results],
        "two_workers": asdict(two) if two is not None else None,
        "logs": str(log_dir),
    }
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(table(results))
    for r in results:
        problems = r.errors + (
            [f"{r.calls - r.refused - r.finalized} calls not finalized"]
            if r.finalized != r.calls - r.refused
            else []
        )
        if r.refused:
            print(f"\n{r.layout} {r.worker} x{r.calls}: {r.refused} refused as busy")
        if problems or r.greeted != r.calls - r.refused:
            print(
                f"\n{r.layout} {r.worker} x{r.calls}: greeted {r.greeted}, problems: {problems[:5]}"
            )
    if opts.profile_dir is not None:
        for path in sorted(opts.profile_dir.glob("*.txt")):
            parts = ", ".join(f"{g} {p} %" for g, p in profile_breakdown(path))
            print(f"\nprofile {path.name}: {parts}")
    if two is not None:
        print("\nTwo workers:", json.dumps(asdict(two), indent=1))
    print(f"\nfull results: {args.json}; server logs: {log_dir}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 s windows")
    parser.add_argument("--calls", default="1,25,50,100", help="comma-separated call counts")
    parser.add_argument(
        "--workers", default="uvloop,asyncio", help="event loops (uvicorn --loop, Hypercorn -k)"
    )
    parser.add_argument("--window", type=float, default=0.0, help="steady-state seconds")
    parser.add_argument("--two-worker-calls", type=int, default=20)
    parser.add_argument("--no-two-workers", action="store_true")
    parser.add_argument("--profile", default="", help="py-spy raw profiles into this folder")
    parser.add_argument(
        "--layouts",
        default="uvicorn",
        help="servers to compare: uvicorn (the Procfile's), hypercorn or granian, each with an"
        " optional +pcmu that sets AUDIO_FORMAT=pcmu and an optional @CHECKOUT, another checkout"
        " (e.g. a git worktree of an earlier commit) whose code and Procfile the server runs",
    )
    parser.add_argument(
        "--audio-format",
        choices=["pcm16", "pcmu"],
        default="pcm16",
        help="AUDIO_FORMAT for the service: pcmu passes mu-law through with no resampling",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="runs again when other processes took over 3 %% of the server's CPU",
    )
    parser.add_argument(
        "--delta-ms",
        type=int,
        default=0,
        help="model audio deltas of this one size (default: the tests' 40-200 ms pattern)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of every level")
    parser.add_argument(
        "--cap",
        type=int,
        default=0,
        help="MAX_CALLS_PER_WORKER for the service (default 0: no cap); calls over it are"
        " answered busy, counted as refused, and the figures are for the calls carried",
    )
    parser.add_argument("--gc-log", action="store_true", help="log the server's GC pauses")
    parser.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "voice-load.json"))
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {GENERATOR_CPU})
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)  # the REST stand-in
    run(main_async(args))


if __name__ == "__main__":
    main()
