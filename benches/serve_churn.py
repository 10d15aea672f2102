#!/usr/bin/env python3
"""`mqtt-scan serve` under churn: 20,000 status changes a second for 30 s, with and without
the history database.

Starts its own mosquitto, then for each configuration (A = `serve --no-db`, B = `serve
--db FILE`, alternating, `--rounds` times each) starts `serve` (release build), opens
`/api/events`, runs examples/churn.rs (DEVICES clients' retained statuses flipping, each
payload carrying its publish time in ms) and reads the stream: the lag of every change line
(arrival minus the payload's `ts`), serve's RSS every second, and with the database, that
every change the stream carried is a row of `transitions` (counted with SQLite after serve
stops). Figures are reported for each configuration and as B/A ratios (these machines are
noisy: only a paired figure means much).

    cargo build --release --bin mqtt-scan --example churn
    python3 benches/serve_churn.py [--rate 20000] [--seconds 30] [--devices 10000] [--rounds 1]
"""

import argparse
import http.client
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import BIN, ROOT, Broker  # noqa: E402

CHURN = os.path.join(ROOT, "target", "release", "examples", "churn")
TS = re.compile(rb'"ts":(\d+)')


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stream(threading.Thread):
    """Reads /api/events: per change line of a churn client, its lag in ms."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.lags = []
        self.changes = 0
        self.lagged = 0
        self.done = False

    def run(self):
        buf = b""
        head = True
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                break
            if not chunk:
                break
            now = time.time() * 1000
            buf += chunk
            if head:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                buf = buf[end + 4 :]
                head = False
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                if line.startswith(b"event: lagged"):
                    self.lagged += 1
                if not line.startswith(b"data:") or b'"from":"' not in line:
                    continue
                self.changes += 1
                m = TS.search(line)
                if m:
                    self.lags.append(now - int(m.group(1)))
        self.done = True


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def one(broker, args, db):
    extra = ["--db", db] if db else ["--no-db"]
    proc = subprocess.Popen(
        [BIN, "serve", "-b", f"127.0.0.1:{broker.port}", "--listen", "127.0.0.1:0", *extra],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    line = proc.stderr.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        sys.exit(f"serve did not start: {line}")
    port = int(m.group(1))
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    deadline = time.monotonic() + 60
    while True:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/readyz")
        ok = c.getresponse().status == 200
        c.close()
        if ok:
            break
        if time.monotonic() > deadline:
            sys.exit("serve did not get ready")
        time.sleep(0.1)
    stream = Stream(port)
    stream.start()
    rss = [rss_kib(proc.pid)]
    churn = subprocess.Popen(
        [CHURN, "127.0.0.1", str(broker.port), str(args.rate), str(args.seconds), str(args.devices)],
        stderr=subprocess.PIPE, text=True,
    )
    while churn.poll() is None:
        time.sleep(1)
        rss.append(rss_kib(proc.pid))
    sent_line = churn.stderr.read().strip().splitlines()[-1]
    sent = int(re.search(r"published (\d+)", sent_line).group(1))
    # The stream drains: wait until it has every change (each device's first message is a
    # first sighting, not a change), or 30 s more.
    deadline = time.monotonic() + 30
    while stream.changes < sent - args.devices and time.monotonic() < deadline:
        time.sleep(0.2)
    changes = stream.changes
    proc.terminate()
    proc.wait(timeout=20)
    recorded = None
    if db:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        recorded = con.execute(
            "SELECT count(*) FROM transitions WHERE from_state IS NOT NULL AND name LIKE 'churn%'"
        ).fetchone()[0]
        con.close()
    return {
        "sent": sent,
        "changes": changes,
        "lagged": stream.lagged,
        "p50": pct(stream.lags, 0.5),
        "p99": pct(stream.lags, 0.99),
        "max": max(stream.lags) if stream.lags else float("nan"),
        "rss_start": rss[1] if len(rss) > 1 else rss[0],
        "rss_end": rss[-1],
        "rss_max": max(rss),
        "recorded": recorded,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    for exe in (BIN, CHURN):
        if not os.path.exists(exe):
            sys.exit(f"{exe} is missing: cargo build --release --bin mqtt-scan --example churn")
    broker = Broker()
    tmp = tempfile.mkdtemp(prefix="mqtt-scan-churn-")
    results = {"A": [], "B": []}
    try:
        for r in range(args.rounds):
            for cfg in ("A", "B"):
                db = os.path.join(tmp, f"h{r}.sqlite3") if cfg == "B" else None
                res = one(broker, args, db)
                results[cfg].append(res)
                print(f"{cfg} round {r + 1}: {res}", flush=True)
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    name = {"A": "serve --no-db", "B": "serve --db"}
    print(f"\n{args.rate}/s for {args.seconds} s over {args.devices} clients")
    for cfg in ("A", "B"):
        rs = results[cfg]
        p99 = statistics.median(x["p99"] for x in rs)
        p50 = statistics.median(x["p50"] for x in rs)
        print(
            f"{name[cfg]:>14}: lag p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
            f"changes seen {rs[-1]['changes']} of {rs[-1]['sent']} sent; "
            f"RSS {rs[-1]['rss_start'] / 1024:.1f} -> {rs[-1]['rss_end'] / 1024:.1f} MiB "
            f"(max {rs[-1]['rss_max'] / 1024:.1f})"
            + (f"; in the database {rs[-1]['recorded']}" if cfg == "B" else "")
        )
    a99 = statistics.median(x["p99"] for x in results["A"])
    b99 = statistics.median(x["p99"] for x in results["B"])
    print(f"p99 lag B/A: {b99 / a99:.2f}x")
    ok = all(
        x["recorded"] is not None and x["recorded"] >= x["changes"] for x in results["B"]
    )
    print("every change the stream carried is in the database:", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
