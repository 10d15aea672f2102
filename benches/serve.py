#!/usr/bin/env python3
"""`mqtt-scan serve` at scale: `/api/clients` and `/metrics` against `list --format json`.

Starts its own mosquitto (as benches/e2e.py does), seeds N retained statuses with the
project's seeder (every 10th offline), starts `serve` (release build) on a free port, checks
that `/api/clients` holds exactly N clients, N/10 offline, complete, and is the same
document as `list --format json` (times aside), then times in alternating runs (A, B, A, B,
...): A = `GET /api/clients` (the whole body read), B = `list --format json` (connect,
snapshot of N, render); then, paired in one process (examples/serve_render.rs), the same GET
against `list`'s renderer over the same table. Then it times `GET /metrics` (classic text) with the default
`--metrics-max-clients` and with every client exported, and reports serve's RSS.

    cargo build --release --bin mqtt-scan --example seed --example serve_render
    python3 benches/serve.py [--size 100000] [--runs 10] [--warmup 2]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import BIN, ROOT, SEED, Broker, run  # noqa: E402

RENDER = os.path.join(ROOT, "target", "release", "examples", "serve_render")


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def timed_get(port, path):
    start = time.perf_counter()
    status, body = get(port, path)
    assert status == 200, f"{path}: {status}"
    return time.perf_counter() - start, len(body)


class Serve:
    def __init__(self, broker_port, extra=()):
        # A history database of its own (the default one is under XDG_STATE_HOME).
        self.state = tempfile.mkdtemp(prefix="mqtt-scan-serve-")
        self.proc = subprocess.Popen(
            [BIN, "serve", "-b", f"127.0.0.1:{broker_port}", "--listen", "127.0.0.1:0", *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, "XDG_STATE_HOME": self.state},
        )
        line = self.proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            sys.exit(f"serve did not start: {line}")
        self.port = int(m.group(1))
        deadline = time.monotonic() + 120
        while get(self.port, "/readyz")[0] != 200:
            if time.monotonic() > deadline:
                sys.exit("serve not ready after 120 s")
            time.sleep(0.05)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.state, ignore_errors=True)


def untimed(doc):
    return re.sub(rb'"(scanned_at|last_seen)": "[^"]*"', b'"\\1": T', doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--serve-args", default="", help="extra flags for serve, space-separated")
    args = ap.parse_args()
    n = args.size
    for path in (BIN, SEED, RENDER):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: cargo build --release --bin mqtt-scan"
                     " --example seed --example serve_render")
    broker = Broker()
    try:
        subprocess.run([SEED, "127.0.0.1", str(broker.port), str(n)], check=True,
                       stdout=subprocess.DEVNULL)
        serve = Serve(broker.port, args.serve_args.split())
        print(f"  serve RSS after the snapshot {serve.rss_mib():.1f} MiB", flush=True)
        try:
            status, body = get(serve.port, "/api/clients")
            doc = json.loads(body)
            offline = -(-n // 10)
            assert doc["summary"]["total"] == n, doc["summary"]
            assert doc["summary"]["offline"] == offline, doc["summary"]
            assert doc["complete"] is True
            listed = subprocess.run([BIN, "list", "-b", f"127.0.0.1:{broker.port}",
                                     "--format", "json"], capture_output=True, check=True).stdout
            assert untimed(body) == untimed(listed), "/api/clients differs from list"
            print(f"N = {n}: /api/clients is list's document ({len(body) / 2**20:.1f} MiB)",
                  flush=True)

            list_cmd = [BIN, "list", "-b", f"127.0.0.1:{broker.port}", "--format", "json"]
            for _ in range(args.warmup):
                timed_get(serve.port, "/api/clients")
                run(list_cmd)
            ta, tb = [], []
            for _ in range(args.runs):
                ta.append(timed_get(serve.port, "/api/clients")[0])
                secs, code = run(list_cmd)
                assert code == 0
                tb.append(secs)
            ma, mb = statistics.median(ta), statistics.median(tb)
            print(f"  GET /api/clients {ma*1000:.1f} ms [{min(ta)*1000:.1f}..{max(ta)*1000:.1f}]"
                  f"  list --format json {mb*1000:.1f} ms [{min(tb)*1000:.1f}..{max(tb)*1000:.1f}]"
                  f"  ratio {ma/mb:.3f}", flush=True)
            # Paired in one process: the same GET against list's renderer over the same table.
            # The table is quiet: serve renders its rows once and then only the head.
            print("  quiet table (serve's rendered rows reused):", flush=True)
            subprocess.run([RENDER, str(serve.port), str(args.runs)], check=True)
            # A change every 5 ms (one seeded client flipping, plain payloads): every GET
            # renders the whole table again.
            print("  changing table (every GET renders the changed stretches of rows):", flush=True)
            flip = subprocess.Popen(["mosquitto_pub", "-p", str(broker.port), "-t",
                                     "sensors/connected/dev1", "-r", "-l"],
                                    stdin=subprocess.PIPE, text=True)
            flipping = threading.Event()

            def flipper():
                i = 0
                while not flipping.is_set():
                    flip.stdin.write(f"{i % 2}\n")
                    flip.stdin.flush()
                    i += 1
                    time.sleep(0.005)

            t = threading.Thread(target=flipper, daemon=True)
            t.start()
            try:
                time.sleep(0.5)
                subprocess.run([RENDER, str(serve.port), str(args.runs), "changing"], check=True)
            finally:
                flipping.set()
                t.join()
                flip.stdin.close()
                flip.wait()
            tm = [timed_get(serve.port, "/metrics") for _ in range(args.runs)]
            print(f"  GET /metrics (10,000 client series) "
                  f"{statistics.median(t for t, _ in tm)*1000:.1f} ms, {tm[0][1] / 2**20:.2f} MiB",
                  flush=True)
            print(f"  serve RSS {serve.rss_mib():.1f} MiB", flush=True)
        finally:
            serve.stop()
        everyone = Serve(broker.port, ["--metrics-max-clients", str(n)])
        try:
            timed_get(everyone.port, "/metrics")
            tm = [timed_get(everyone.port, "/metrics") for _ in range(args.runs)]
            print(f"  GET /metrics ({n} client series) "
                  f"{statistics.median(t for t, _ in tm)*1000:.1f} ms"
                  f" [{min(t for t, _ in tm)*1000:.1f}..{max(t for t, _ in tm)*1000:.1f}],"
                  f" {tm[0][1] / 2**20:.2f} MiB; serve RSS {everyone.rss_mib():.1f} MiB",
                  flush=True)
        finally:
            everyone.stop()
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
