"""Benchmark the core: index build time, per-question latency (p50/p99), memory, CLI start-up.

    python benchmarks/core.py [--rounds N] [QUESTIONS.jsonl ...]

Questions come from the given JSONL files (`q` or `text`) and, always, from the knowledge's own
sample questions. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from bot.brain import Brain, Message
from bot.knowledge import load_knowledge


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    knowledge = load_knowledge()
    load_ms = (time.perf_counter() - t0) * 1000
    builds = []
    for _ in range(5):
        t1 = time.perf_counter()
        brain = Brain(knowledge)
        builds.append((time.perf_counter() - t1) * 1000)
    tracemalloc.start()
    Brain(knowledge)
    _, build_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"load knowledge: {load_ms:.1f} ms; build index: median {statistics.median(builds):.1f} ms, "
          f"max {max(builds):.1f} ms over {len(builds)} builds "
          f"(peak {build_peak / 1e6:.1f} MB allocated while building)")  # fmt: skip

    questions = [
        q for info in knowledge.sections.values() for q in (*info.questions_en, *info.questions_da)
    ]
    for path in args.files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                questions.append(item.get("q") or item.get("text") or "")
    brain.answer(Message("warm up"))
    timings: list[float] = []
    for _ in range(args.rounds):
        for question in questions:
            start = time.perf_counter()
            brain.answer(Message(question))
            timings.append((time.perf_counter() - start) * 1000)
    print(
        f"answers: {len(timings)} ({len(questions)} questions x {args.rounds} rounds, cold caches in round 1)"
    )
    print(f"latency ms: p50 {percentile(timings, 50):.3f}  p90 {percentile(timings, 90):.3f}  "
          f"p99 {percentile(timings, 99):.3f}  max {max(timings):.3f}  mean {statistics.mean(timings):.3f}")  # fmt: skip
    print(f"throughput: {len(timings) / (sum(timings) / 1000):.0f} answers/s on one core")
    print(
        f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB"
    )

    cli = [sys.executable, "-m", "bot", "ask", "How do I delete my data?"]
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(cli, check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    print(f"`privacybot ask` start-to-answer: median {statistics.median(runs) * 1000:.0f} ms, "
          f"max {max(runs) * 1000:.0f} ms over {len(runs)} runs")  # fmt: skip


if __name__ == "__main__":
    main()
