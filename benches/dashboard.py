#!/usr/bin/env python3
"""The dashboard with N clients in headless Chromium (benches/dashboard.mjs).

Starts its own mosquitto, seeds N retained statuses, starts `serve` (release build) and
loads `/` in Debian's Chromium through playwright-core (`npm ci --prefix tests/browser`):
the time to the first rows, to the whole table, how many rows are in the DOM, a scroll to
the middle and a filter over all rows, each until the frame after it is drawn.

    cargo build --release --bin mqtt-scan --example seed
    python3 benches/dashboard.py [--size 100000]
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import ROOT, SEED, Broker  # noqa: E402
from serve import Serve  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100_000)
    args = ap.parse_args()
    broker = Broker()
    try:
        subprocess.run([SEED, "127.0.0.1", str(broker.port), str(args.size)], check=True,
                       stdout=subprocess.DEVNULL)
        serve = Serve(broker.port)
        try:
            subprocess.run(["node", os.path.join(ROOT, "benches", "dashboard.mjs"),
                            f"http://127.0.0.1:{serve.port}/", str(args.size)], check=True)
            print(f"serve RSS {serve.rss_mib():.1f} MiB")
        finally:
            serve.stop()
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
