"""Scale-out proof (issue #17): two service hosts behind a WebSocket-aware load balancer,
sharing one database.

Each host is its own network namespace (`ip netns`), joined to this machine by a veth pair
on a bridge; each runs the service exactly as the Procfile does (uvicorn), with the same
settings. HAProxy (Debian's package) listens on 127.0.0.1 and spreads every new connection
over both hosts at random, so a call's voice webhook and its media stream land on the same
host or on different ones. The database (SecantusDB, in memory), the OpenAI Realtime
stand-in and the Twilio REST stand-in listen on the bridge's address on this machine,
where both hosts reach them.

Two parts:

1. Inbound: N calls (default 100) dialed through the balancer, held for a window, then hung
   up. Every call must be greeted and finalized; the table gives the split between hosts
   (webhooks, streams, calls whose two halves were on different hosts), frames lost and
   the added delay each way.
2. Outbound: M interviews (default 40) scheduled through the recruiter API via the
   balancer; both hosts' dialers claim and place them. Each must be dialed exactly once,
   and the Twilio stand-in must never see more than TWILIO_CPS creations in any second.

Run as root from the repository root (namespaces and veth need it; `apt-get install
haproxy` first):

    .venv/bin/python benchmarks/scale_out.py
    .venv/bin/python benchmarks/scale_out.py --calls 100 --window 20 --interviews 40 --cps 2

Everything it creates (namespaces, links, processes) is removed when it ends, and it sends
traffic only to addresses on this machine and in the namespaces it made.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import (
    HOST,
    RAMP_PER_S,
    STREAM_DELAY_S,
    Server,
    by_call,
    database,
    hang_up_all,
    inbound_flow,
    outbound_flow,
    ring,
    wait_port,
    wait_until,
)
from load_peers import ACCOUNT, Caller, ModelPeer, Scenario
from load_wire import http_request, now_ns

from persistence.embedded import free_loopback_port
from persistence.store import Store
from telephony.dialer.pacing import most_in_any_second
from tests.support.api import CONSENT, add_keys
from tests.support.servers import procfile_command
from tests.support.telephony_fixtures import AUTH_TOKEN, PUBLIC
from tests.support.twilio_peer import sid
from tests.support.twilio_rest_peer import TwilioRestPeer

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = "vi-lb0"
SUBNET = "10.231.0"
GATEWAY = f"{SUBNET}.1"  # this machine's side: database, stand-ins
HOSTS = {"host1": f"{SUBNET}.11", "host2": f"{SUBNET}.12"}
SERVICE_PORT = 8000
FROM_NUMBER = "+14155550100"
# Zones tried in turn for the outbound part's candidates: the first whose local time is
# comfortably inside 08:00-21:00 now, so the dialer may call at once.
ZONES = ("America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Sydney",
         "America/Los_Angeles", "Pacific/Auckland", "Asia/Tokyo")  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# -- the test hosts ----------------------------------------------------------------------


def _teardown() -> None:
    for name in HOSTS:
        subprocess.run(["ip", "netns", "del", f"vi-{name}"], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", f"vi-{name}-a"], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "link", "del", BRIDGE], stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def test_hosts() -> Iterator[None]:
    """A bridge on this machine at GATEWAY and one namespace per host, each on a veth."""
    _teardown()  # what an interrupted run left behind
    try:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for name, address in HOSTS.items():
            ns, outside, inside = f"vi-{name}", f"vi-{name}-a", f"vi-{name}-b"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            sh("ip", "link", "set", inside, "netns", ns)
            sh("ip", "link", "set", outside, "master", BRIDGE, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", inside)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield
    finally:
        _teardown()


def start_host(name: str, env: dict[str, str], log_dir: Path, data_dir: Path) -> Server:
    """The Procfile's command inside the host's namespace, on all of its addresses."""
    full = dict(os.environ)
    full.update(env)
    full["DATA_DIR"] = str(data_dir)
    args = procfile_command(SERVICE_PORT, "0.0.0.0")
    cmd = ["ip", "netns", "exec", f"vi-{name}", sys.executable, "-m", *args]
    cmd += ["--no-access-log", "--log-level", "warning"]
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT)
    return Server(proc, SERVICE_PORT, log_path, HOSTS[name])


HAPROXY_CFG = """\
global
    maxconn 8000

defaults
    mode http
    option http-server-close
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h

frontend voice
    bind {host}:{port}
    default_backend hosts

backend hosts
    # Every new connection picks a host at random: a call's webhook and its stream land
    # on the same host about half the time, on different hosts the other half.
    balance random
    option httpchk GET /readyz
    http-response set-header X-Served-By %s
{servers}
"""


@contextlib.asynccontextmanager
async def balancer(log_dir: Path) -> AsyncIterator[int]:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise SystemExit("HAProxy is needed: apt-get install -y haproxy")
    port = free_loopback_port()
    servers = "\n".join(
        f"    server {name} {address}:{SERVICE_PORT} check inter 1s"
        for name, address in HOSTS.items()
    )
    cfg = log_dir / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(host=HOST, port=port, servers=servers))
    with (log_dir / "haproxy.log").open("wb") as out:
        proc = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=out, stderr=out)
    try:
        await wait_port(port)
        yield port
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait)


# -- the runs ----------------------------------------------------------------------------


@dataclass
class InboundResult:
    calls: int
    connected: int
    greeted: int
    finalized: int
    frames_match: int
    closed_by_server: int
    webhooks_per_host: dict[str, int]
    streams_per_host: dict[str, int]
    split_calls: int  # webhook on one host, stream on the other
    inbound: dict[str, Any]
    outbound: dict[str, Any]
    problems: list[str] = field(default_factory=list)


async def inbound(lb_port: int, n: int, window_s: float, peer: ModelPeer, db: tuple[str, str],
                  callers: dict[str, Caller]) -> InboundResult:  # fmt: skip
    webhook_at: dict[str, str] = {}
    problems: list[str] = []
    start = time.monotonic()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / RAMP_PER_S - time.monotonic()))
        call_sid = sid("CA")
        answered: dict[str, str] = {}
        path = await ring(lb_port, call_sid, answered)
        webhook_at[call_sid] = answered.get("x-served-by", "?")
        await asyncio.sleep(STREAM_DELAY_S)
        caller = Caller(i, call_sid, HOST, lb_port, path)
        await caller.connect()
        callers[call_sid] = caller

    log(f"inbound: dialing {n} calls through the balancer at {RAMP_PER_S:.0f}/s")
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    problems += [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    live = list(callers.values())
    await wait_until(lambda: all(c.heard_greeting() for c in live), 15)
    t0 = now_ns()
    log(f"inbound: {len(live)} calls up; holding them for {window_s:.0f} s")
    await asyncio.sleep(window_s)
    t1 = now_ns()
    greeted = sum(c.heard_greeting() for c in live)
    ending = await hang_up_all(live, *db)
    conns = by_call(peer)
    stream_at = {c.call_sid: c.answered.get("x-served-by", "?") for c in live}
    split = sum(1 for s, host in stream_at.items() if host != webhook_at.get(s))
    return InboundResult(
        calls=n,
        connected=len(live),
        greeted=greeted,
        finalized=ending.finalized,
        frames_match=ending.frames_match,
        closed_by_server=ending.closed_by_server,
        webhooks_per_host=dict(Counter(webhook_at[c.call_sid] for c in live)),
        streams_per_host=dict(Counter(stream_at.values())),
        split_calls=split,
        inbound=inbound_flow(live, conns, t0, t1).summary(),
        outbound=outbound_flow(live, conns, t0, t1).summary(),
        problems=problems + ending.problems,
    )


@dataclass
class OutboundResult:
    interviews: int
    cps: int
    created: int
    refused: int
    dialed_once: int
    dialed_twice_or_more: int
    most_in_any_second: int
    gaps_s: list[float]  # between consecutive creations, as the stand-in received them
    zone: str
    seconds: float
    dialed_per_host: dict[str, int]


def daytime_zone(now: datetime) -> str:
    for name in ZONES:
        hour = now.astimezone(ZoneInfo(name)).hour
        if 9 <= hour < 20:
            return name
    raise RuntimeError("no zone in the list is inside calling hours now")


async def outbound(
    lb_port: int, count: int, cps: int, rest: TwilioRestPeer, db: tuple[str, str]
) -> OutboundResult:
    store = Store.connect(*db)
    try:
        keys = await add_keys(store)
    finally:
        await store.close()
    zone = daytime_zone(datetime.now(UTC))
    numbers = [f"+1415555{n:04d}" for n in range(1000, 1000 + count)]
    items = [
        {
            "candidate": {"name": "Bench Candidate", "phone": p, "timezone": zone},
            "template_id": "default",
            "consent": CONSENT,
        }
        for p in numbers
    ]
    body = json.dumps({"items": items}).encode()
    headers = {
        "Authorization": f"Bearer {keys['recruiter']}",
        "Content-Type": "application/json",
    }
    before = len(rest.created)
    log(f"outbound: scheduling {count} interviews (candidates in {zone}); both hosts dial")
    t0 = time.monotonic()
    status, answer = await http_request(
        HOST, lb_port, "POST", "/api/v1/interviews:batch", body, headers, timeout=60
    )
    if status != 200:
        raise RuntimeError(f"batch scheduling answered {status}: {answer[:300]!r}")
    await wait_until(lambda: len(rest.created) - before >= count, 30 + count / cps * 2)
    # Anything dialed twice would show up shortly after the last first dial.
    await asyncio.sleep(3.0)
    seconds = time.monotonic() - t0
    created = rest.created[before:]
    per_number = Counter(c.one("To") for c in created)
    return OutboundResult(
        interviews=count,
        cps=cps,
        created=len(created),
        refused=len(rest.refused),
        dialed_once=sum(1 for n in numbers if per_number.get(n) == 1),
        dialed_twice_or_more=sum(1 for n in numbers if per_number.get(n, 0) > 1),
        most_in_any_second=most_in_any_second([c.at for c in created]),
        gaps_s=[round(b.at - a.at, 3) for a, b in pairwise(created)],
        zone=zone,
        seconds=round(seconds, 1),
        dialed_per_host=dialed_per_host(created),
    )


def dialed_per_host(created: list[Any]) -> dict[str, int]:
    """Which host placed each call: the address its creation request came from."""
    names = {address: name for name, address in HOSTS.items()}
    return dict(Counter(names.get(c.source, c.source) for c in created))


# -- main --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="voice-scale-"))
    callers: dict[str, Caller] = {}
    out: dict[str, Any] = {"log_dir": str(log_dir)}
    async with database(host=GATEWAY, cpu=None) as (db_uri, _):
        db_name = f"bench_scale_{secrets.token_hex(3)}"
        peer = ModelPeer(Scenario(), host=GATEWAY)
        await peer.start()
        rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN, numbers={FROM_NUMBER})

        async def end_call(call_sid: str) -> None:
            caller = callers.get(call_sid)
            if caller is not None:
                await caller.stop()

        rest.on_end = end_call
        try:
            async with rest.serving(host=GATEWAY):
                env = {
                    "MONGODB_URI": db_uri,
                    "MONGODB_DB": db_name,
                    "PUBLIC_URL": PUBLIC,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_ACCOUNT_SID": ACCOUNT,
                    "TWILIO_API_URL": rest.base,
                    "TWILIO_FROM_NUMBER": FROM_NUMBER,
                    "TWILIO_CPS": str(args.cps),
                    "OUTBOUND_MAX_CONCURRENT": str(max(args.interviews, 1)),
                    "OPENAI_API_KEY": "sk-test",
                    "OPENAI_REALTIME_URL": peer.url,
                    "LOG_LEVEL": "INFO",
                    "MAX_CALL_SECONDS": "600",
                    "MAX_CALLS_PER_WORKER": "0",
                }
                hosts: dict[str, Server] = {}
                with tempfile.TemporaryDirectory() as data:
                    try:
                        for name in HOSTS:
                            data_dir = Path(data) / name
                            data_dir.mkdir()
                            hosts[name] = start_host(name, env, log_dir, data_dir)
                        for server in hosts.values():
                            await server.ready()
                        log(f"both hosts ready; logs in {log_dir}")
                        async with balancer(log_dir) as lb_port:
                            await asyncio.sleep(2.5)  # the balancer's first health checks
                            result = await inbound(
                                lb_port, args.calls, args.window, peer, (db_uri, db_name),
                                callers,
                            )  # fmt: skip
                            out["inbound"] = asdict(result)
                            if args.interviews:
                                dialed = await outbound(
                                    lb_port, args.interviews, args.cps, rest, (db_uri, db_name)
                                )
                                out["outbound"] = asdict(dialed)
                    finally:
                        for server in hosts.values():
                            await server.stop()
                out["errors"] = {n: s.log_lines("ERROR")[:10] for n, s in hosts.items()}
        finally:
            await peer.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--window", type=float, default=20.0, help="seconds the calls are held")
    parser.add_argument("--interviews", type=int, default=40, help="0 skips the dialer part")
    parser.add_argument("--cps", type=int, default=2, help="TWILIO_CPS on both hosts")
    parser.add_argument("--json", default="/tmp/voice-scale.json")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the test hosts are network namespaces")
    with test_hosts():
        out = asyncio.run(run(args))
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
