"""Load-test POST /ask: start `privacybot serve` on a free loopback port and drive it hard.

    python benchmarks/load.py [--connections 64] [--seconds 10] [--requests N] [--log-level INFO]

Questions are the knowledge's own sample questions (English and Danish) plus a few the bot
declines, so knowledge gaps are written while under load. Prints throughput, p50/p99 latency,
errors and the server's peak RSS (VmHWM); asserts nothing. The server runs with
ASK_RATE_PER_MINUTE raised (all clients share one address) and a throwaway DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bot.knowledge import load_knowledge

DECLINED = ["what is the weather in Vejle", "can I buy a laptop from you", "hvad koster en pizza"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def questions() -> list[str]:
    kn = load_knowledge()
    found = [q for s in kn.sections.values() for q in (*s.questions_en, *s.questions_da)]
    return found + DECLINED


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(port: int, data_dir: str, log_level: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("privacybot")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot"]
    env = {**os.environ, "DATA_DIR": data_dir, "ASK_RATE_PER_MINUTE": "1000000",
           "LOG_LEVEL": log_level, "API_TOKEN": ""}  # fmt: skip
    return subprocess.Popen(
        [*cmd, "serve", "--port", str(port)], env=env, cwd=data_dir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                async with session.get(url + "/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("the server did not become ready")


async def drive(
    url: str, qs: list[str], conns: int, seconds: float, limit: int, unique: bool = False
) -> dict[str, object]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    answered = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(limit))
    connector = aiohttp.TCPConnector(limit=conns, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(k: int) -> None:
            nonlocal answered
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                q = vary(qs, n) if unique else qs[(n * 7 + k) % len(qs)]
                t0 = time.perf_counter()
                try:
                    async with session.post(url + "/ask", json={"question": q}) as r:
                        body = await r.json()
                        if r.status != 200:
                            errors[f"HTTP {r.status}"] += 1
                            continue
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                answered += bool(body.get("answered"))

        # a short warm-up, not measured
        async with session.post(url + "/ask", json={"question": qs[0]}) as r:
            await r.read()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(conns)))
        elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "errors": errors, "answered": answered, "elapsed": elapsed}


def vary(qs: list[str], n: int) -> str:
    """The n-th distinct variant of the questions: one letter's case flipped (the core folds
    case, so the work per answer stays the same, but the server's answer cache never hits)."""
    base = qs[n % len(qs)]
    m = n // len(qs)
    i = m % len(base)
    return base[:i] + base[i].swapcase() + base[i + 1 :] + "?" * (m // len(base))


def machine_busy() -> float:
    """CPU seconds all processes have used so far (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for x in fields) - int(fields[3]) - int(fields[4])  # minus idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=1_000_000, help="stop after this many")
    parser.add_argument("--log-level", default="INFO", help="the server's LOG_LEVEL")
    parser.add_argument(
        "--unique", action="store_true", help="make every question unique (no cache hits)"
    )
    args = parser.parse_args()
    qs = questions()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        proc = start_server(port, data_dir, args.log_level)
        try:
            asyncio.run(wait_ready(url, proc))
            cpu0, client0, all0 = cpu_seconds(proc.pid), time.process_time(), machine_busy()
            r = asyncio.run(
                drive(url, qs, args.connections, args.seconds, args.requests, args.unique)
            )
            cpu, client_cpu = cpu_seconds(proc.pid) - cpu0, time.process_time() - client0
            others = machine_busy() - all0 - cpu - client_cpu
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            code = proc.wait(30)
    lat: list[float] = r["latencies"]  # type: ignore[assignment]
    errors: Counter[str] = r["errors"]  # type: ignore[assignment]
    elapsed: float = r["elapsed"]  # type: ignore[assignment]
    print(f"POST /ask, {args.connections} connections, {elapsed:.1f} s, "
          f"{len(qs)} questions {'made unique' if args.unique else 'repeated'}, "
          f"server LOG_LEVEL={args.log_level}")  # fmt: skip
    print(f"  answers:    {len(lat)} ({r['answered']} answered, {len(lat) - int(r['answered'])} "  # type: ignore[call-overload]
          f"declined)")  # fmt: skip
    print(f"  throughput: {len(lat) / elapsed:.0f} answers/s")
    print(f"  latency:    p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, "
          f"max {max(lat, default=0) * 1000:.1f} ms")  # fmt: skip
    print(f"  errors:     {sum(errors.values())} {dict(errors) or ''}")
    print(
        f"  server:     peak RSS {rss:.0f} MB, CPU {cpu / elapsed:.0%} of a core "
        f"({cpu / max(1, len(lat)) * 1e6:.0f} µs per answer), exit code after SIGTERM {code}"
    )
    print(
        f"  client:     CPU {client_cpu / elapsed:.0%} of a core; other processes on the "
        f"machine: {max(0.0, others) / elapsed:.0%} of a core ({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
