"""What the load benchmark reads from /proc: CPU time, resident memory, socket owners."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces or parentheses: split after its closing ')'.
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Hypercorn's workers, and anything they started)."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of these processes, threads included."""
    user = system = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes (threads included)."""
    return sum(cpu_split(pids))


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = (PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def tcp_sockets() -> dict[tuple[int, int], int]:
    """(local port, remote port) -> socket inode, for established loopback TCP sockets."""
    out: dict[tuple[int, int], int] = {}
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] != "01":  # ESTABLISHED
            continue
        local = int(parts[1].split(":")[1], 16)
        remote = int(parts[2].split(":")[1], 16)
        out[(local, remote)] = int(parts[9])
    return out


def socket_owners(pids: list[int]) -> dict[int, int]:
    """socket inode -> the pid (of `pids`) holding it."""
    owners: dict[int, int] = {}
    for pid in pids:
        fd_dir = PROC / str(pid) / "fd"
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[int(target[8:-1])] = pid
    return owners


def cpu_times(cpu: int) -> dict[str, float]:
    """Seconds the CPU spent per state since boot, from /proc/stat (steal shows a busy host)."""
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    for line in (PROC / "stat").read_text().splitlines():
        parts = line.split()
        if parts[0] == f"cpu{cpu}":
            return {n: int(v) / CLOCK_TICKS for n, v in zip(names, parts[1:9], strict=True)}
    return {}
