#!/usr/bin/env python3
"""End to end: `mqtt-scan list` against `mosquitto_sub` on the same real mosquitto.

For each fleet size N it starts its own mosquitto on a free loopback port (queues raised so
that a QoS 0 peer can receive a million messages), seeds N retained statuses with the
project's seeder (every 10th offline, QoS 1, so the broker has stored them all), checks that
`list` reports exactly N clients and N/10 offline, and then times the commands of each
comparison in alternating runs (A, B, A, B, ...), so that whatever the machine does meanwhile
falls on both. Wall time comes from wait4(); peak RSS from GNU time in a run of its own.
It prints the medians, the ratios, and a Markdown table (docs/benchmarks.md has the method
and the results).

    python3 benches/e2e.py [--sizes 10,100,10000,100000,1000000] [--runs 10] [--warmup 2]
                           [--against OLD_BINARY]

Needs mosquitto and mosquitto-clients (Debian packages) and a Rust toolchain.
"""

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mqtt-scan")
SEED = os.path.join(ROOT, "target", "release", "examples", "seed")
FILTER = "sensors/connected/#"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqtt-scan-bench-")
        self.port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(
                f"listener {self.port} 127.0.0.1\n"
                "allow_anonymous true\n"
                "persistence false\n"
                # A million retained messages to one subscriber: nothing may be dropped.
                "max_queued_messages 0\n"
                "max_queued_bytes 0\n"
                "user root\n"
            )
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "w")
        self.proc = subprocess.Popen([mosquitto, "-c", conf], stderr=self.log, stdout=self.log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    sys.exit(f"mosquitto did not start; see {self.dir}/mosquitto.log")
                time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(cmd, out=subprocess.DEVNULL):
    """Runs cmd to completion; returns (seconds, exit status)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
    _, status, _ = os.wait4(p.pid, 0)
    return time.perf_counter() - start, os.waitstatus_to_exitcode(status)


def peak_rss(cmd):
    """Peak RSS in MiB, from GNU time in a run of its own: a child's ru_maxrss would
    include this Python process's own size, which it inherits until exec."""
    with tempfile.NamedTemporaryFile("r") as f:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name, *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(f.read().strip().splitlines()[-1]) / 1024


def check(broker, n):
    """Correctness: exactly N clients, N/10 offline, complete; and the peer saw N too."""
    out = subprocess.run(
        [BIN, "list", "-b", f"127.0.0.1:{broker.port}", "--format", "json"],
        capture_output=True, check=True,
    ).stdout
    doc = json.loads(out)
    s = doc["summary"]
    offline = -(-n // 10)
    assert s["total"] == n, f"list saw {s['total']} clients, want {n}"
    assert s["offline"] == offline, f"list saw {s['offline']} offline, want {offline}"
    assert s["online"] == n - offline, f"list saw {s['online']} online"
    assert doc["complete"] is True, "snapshot not complete"
    peer = subprocess.run(
        ["mosquitto_sub", "-p", str(broker.port), "-t", FILTER, "-C", str(n), "-W", "600"],
        capture_output=True, check=True,
    ).stdout.count(b"\n")
    assert peer == n, f"mosquitto_sub saw {peer}, want {n}"
    return offline


def compare(name, a, b, runs, warmup):
    """Alternates A and B; returns medians (s), ratio, and peak RSS (MiB)."""
    for _ in range(warmup):
        run(a)
        run(b)
    ta, tb = [], []
    for _ in range(runs):
        for cmd, t in ((a, ta), (b, tb)):
            secs, code = run(cmd)
            # mosquitto_sub -W exits 27 when its timeout ends the run: that is its normal end.
            if code != 0 and not (code == 27 and "-W" in cmd):
                sys.exit(f"{name}: {' '.join(cmd)} exited {code}")
            t.append(secs)
    ra, rb = [peak_rss(a)], [peak_rss(b)]
    ma, mb = statistics.median(ta), statistics.median(tb)
    result = {
        "name": name,
        "a": ma, "a_min": min(ta), "a_max": max(ta),
        "b": mb, "b_min": min(tb), "b_max": max(tb),
        "ratio": ma / mb,
        "rss_a": max(ra), "rss_b": max(rb),
    }
    print(
        f"  {name}: mqtt-scan {ma*1000:.1f} ms [{min(ta)*1000:.1f}..{max(ta)*1000:.1f}]"
        f"  peer {mb*1000:.1f} ms [{min(tb)*1000:.1f}..{max(tb)*1000:.1f}]"
        f"  ratio {ma/mb:.3f}  RSS {max(ra):.1f} / {max(rb):.1f} MiB",
        flush=True,
    )
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,100,10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--against", metavar="BIN",
                    help="also time the table `list` against another mqtt-scan binary "
                         "(an older build) on the same broker")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--bin", "mqtt-scan", "--example", "seed"],
            cwd=ROOT, check=True,
        )
    mosq = subprocess.run(["mosquitto_sub", "--help"], capture_output=True, text=True).stdout
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}")
    print(f"peer: {next((l for l in mosq.splitlines() if 'version' in l), '?').strip()}")
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        broker = Broker()
        try:
            b = f"127.0.0.1:{broker.port}"
            t0 = time.perf_counter()
            subprocess.run([SEED, "127.0.0.1", str(broker.port), str(n)], check=True,
                           stderr=subprocess.DEVNULL)
            print(f"N = {n:,}: seeded in {time.perf_counter() - t0:.1f} s", flush=True)
            offline = check(broker, n)
            print(f"  correct: {n:,} clients, {offline:,} offline, complete; peer saw {n:,}")
            # Fewer runs for a million: each takes seconds.
            runs = args.runs if n < 1_000_000 else max(3, args.runs // 3)
            warm = args.warmup if n < 1_000_000 else 1
            sub_c = ["mosquitto_sub", "-p", str(broker.port), "-t", FILTER, "-C", str(n)]
            sub_w = ["mosquitto_sub", "-p", str(broker.port), "-t", FILTER,
                     "--retained-only", "-W", "1"]
            if n >= 100_000:
                r = compare("list --format json --settle 0ms vs mosquitto_sub -C N",
                            [BIN, "list", "-b", b, "--format", "json", "--settle", "0ms"],
                            sub_c, runs, warm)
                results.append((n, r))
            if n <= 100_000:
                r = compare("default list --format json vs mosquitto_sub --retained-only -W 1",
                            [BIN, "list", "-b", b, "--format", "json"], sub_w, runs, warm)
                results.append((n, r))
            if n <= 100:
                r = compare("default list vs mosquitto_sub --retained-only -W 1",
                            [BIN, "list", "-b", b], sub_w, runs, warm)
                results.append((n, r))
            if args.against:
                r = compare(f"default list vs {args.against} list",
                            [BIN, "list", "-b", b], [args.against, "list", "-b", b], runs, warm)
                results.append((n, r))
            if n >= 100_000:
                r = compare("default list vs mosquitto_sub -C N",
                            [BIN, "list", "-b", b], sub_c, runs, warm)
                results.append((n, r))
        finally:
            broker.stop()
    print("\n| N | comparison | mqtt-scan (median) | peer (median) | ratio | mqtt-scan peak RSS |")
    print("|---:|---|---:|---:|---:|---:|")
    for n, r in results:
        print(f"| {n:,} | {r['name']} | {r['a']*1000:.1f} ms | {r['b']*1000:.1f} ms "
              f"| {r['ratio']:.3f} | {r['rss_a']:.1f} MiB |")


if __name__ == "__main__":
    main()
