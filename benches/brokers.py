#!/usr/bin/env python3
"""The snapshot end on every broker: order experiments and `list` timings.

It starts each broker itself on a free loopback port (stopped by pid at the end), seeds N
retained statuses `sensors/connected/dev{i}` at QoS 1 with the project's seeder, and then:

  order   RUNS times: connect (clean session), SUBSCRIBE to the status filter and a private
          probe topic, publish the probe (QoS 1) after the SUBACK, and count the retained
          messages that arrive after the probe's echo ("late"), with the longest silence
          after the echo before a late one (what a settle window must outlast) and the
          longest silence between two retained messages of the snapshot.
  time    `mqtt-scan list --format json` against `mosquitto_sub -C N` on the same broker
          (list checked exact and complete), alternating runs, medians and the ratio.

    python3 benches/brokers.py order [--brokers mosquitto,aedes,...] [--sizes 5,10000]
                                     [--runs 2000,300]
    python3 benches/brokers.py time  [--brokers ...] [--sizes 5,10000] [--runs 20]

Brokers: mosquitto (apt), aedes (AEDES_DIR: a directory with node_modules/aedes, default
tests/brokers/aedes), amqtt (AMQTT, default target/amqtt-venv/bin/amqtt), rabbitmq (apt
rabbitmq-server), rumqttd (examples/rumqttd), rmqtt (RMQTT, default
target/rmqtt/release/rmqtt-test-broker, built from tests/brokers/rmqtt). A broker that is
not installed is skipped with one line.
RabbitMQ delivers retained messages only to exact-topic subscriptions: there the order
experiment subscribes to each status topic (N <= 1000) and `time` is skipped.
"""

import argparse
import json
import os
import random
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mqtt-scan")
EXAMPLES = os.path.join(ROOT, "target", "release", "examples")
FILTER = "sensors/connected/#"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    """A broker process of our own; `self.port` speaks MQTT."""

    name = "?"
    exact_only = False
    # amqtt 0.12.1 sends a new client, right after its CONNACK, every retained message that
    # matches any filter anyone ever subscribed to (broker.py, _handle_client_session: `for
    # topic in self._subscriptions`): `mosquitto_sub -C N` would count those and stop early.
    fresh_per_run = False
    start_seconds = 10

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=f"mqtt-scan-{self.name}-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "broker.log"), "w")
        cmd, env = self.command()
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=self.log, env=env, cwd=self.dir, start_new_session=True
        )
        if not wait_port(self.port, self.proc, self.start_seconds):
            self.stop()
            raise RuntimeError(f"{self.name} did not listen on {self.port}: see {self.dir}")

    def stop(self):
        if self.proc.poll() is None:
            # The whole process group: RabbitMQ's wrapper starts beam and epmd under it.
            try:
                os.killpg(self.proc.pid, 15)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if getattr(self, "script", None):
            os.unlink(self.script)


class Mosquitto(Broker):
    name = "mosquitto"

    @staticmethod
    def missing():
        return None if shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto") else (
            "apt-get install mosquitto")

    def command(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\nmax_queued_bytes 0\nuser root\n")
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf], None


class Aedes(Broker):
    name = "aedes"
    DIR = os.environ.get("AEDES_DIR") or next(
        (d for d in (os.path.join(ROOT, "tests", "brokers", "aedes"), "/tmp/aedes")
         if os.path.isdir(os.path.join(d, "node_modules", "aedes"))), "/tmp/aedes")

    @classmethod
    def missing(cls):
        ok = shutil.which("node") and os.path.isdir(os.path.join(cls.DIR, "node_modules", "aedes"))
        return None if ok else "npm ci --prefix tests/brokers/aedes (or set AEDES_DIR)"

    def command(self):
        # Next to node_modules, so that `import 'aedes'` finds it.
        script = os.path.join(self.DIR, f"bench-server-{os.getpid()}.mjs")
        self.script = script
        with open(script, "w") as f:
            f.write("import { Aedes } from 'aedes'\nimport net from 'node:net'\n"
                    "const broker = await Aedes.createBroker()\n"
                    "net.createServer(broker.handle).listen(Number(process.argv[2]), '127.0.0.1')\n")
        return ["node", script, str(self.port)], None


class Amqtt(Broker):
    name = "amqtt"
    fresh_per_run = True
    EXE = os.environ.get("AMQTT") or next(
        (p for p in (os.path.join(ROOT, "target", "amqtt-venv", "bin", "amqtt"),
                     "/tmp/amqtt-venv/bin/amqtt") if os.path.exists(p)), "amqtt")

    @classmethod
    def missing(cls):
        return None if os.path.exists(cls.EXE) else (
            "python3 -m venv target/amqtt-venv && target/amqtt-venv/bin/pip install amqtt==0.12.1")

    def command(self):
        conf = os.path.join(self.dir, "amqtt.yaml")
        with open(conf, "w") as f:
            # Its default configuration, on our port, without the packet logger.
            f.write(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\n"
                    "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                    "    allow_anonymous: true\n  amqtt.plugins.sys.broker.BrokerSysPlugin:\n"
                    "    sys_interval: 20\n")
        return [self.EXE, "-c", conf], None


class RabbitMQ(Broker):
    name = "rabbitmq"
    exact_only = True
    start_seconds = 60
    EXE = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    @classmethod
    def missing(cls):
        return None if os.path.exists(cls.EXE) else "apt-get install rabbitmq-server"

    def command(self):
        amqp, dist = free_port(), free_port()
        conf = os.path.join(self.dir, "rabbitmq.conf")
        with open(conf, "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{amqp}\n"
                    f"mqtt.listeners.tcp.default = 127.0.0.1:{self.port}\n"
                    "mqtt.allow_anonymous = true\n")
        plugins = os.path.join(self.dir, "enabled_plugins")
        with open(plugins, "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        env = dict(os.environ, RABBITMQ_NODENAME=f"bench{self.port}@localhost",
                   RABBITMQ_NODE_PORT=str(amqp), RABBITMQ_DIST_PORT=str(dist),
                   RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
                   RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
                   RABBITMQ_ENABLED_PLUGINS_FILE=plugins, RABBITMQ_CONFIG_FILE=conf,
                   HOME=self.dir)
        return [self.EXE], env


class Rumqttd(Broker):
    name = "rumqttd"
    EXE = os.path.join(EXAMPLES, "rumqttd")

    @classmethod
    def missing(cls):
        return None if os.path.exists(cls.EXE) else "cargo build --release --example rumqttd"

    def command(self):
        return [self.EXE, str(self.port)], None


class Rmqtt(Broker):
    name = "rmqtt"
    EXE = os.environ.get("RMQTT", os.path.join(ROOT, "target", "rmqtt", "release", "rmqtt-test-broker"))

    @classmethod
    def missing(cls):
        return None if os.path.exists(cls.EXE) else (
            "cargo build --release --manifest-path tests/brokers/rmqtt/Cargo.toml "
            "--target-dir target/rmqtt (or set RMQTT)")

    def command(self):
        return [self.EXE, str(self.port)], None


BROKERS = {b.name: b for b in (Mosquitto, Aedes, Amqtt, RabbitMQ, Rumqttd, Rmqtt)}


def seed(port, n):
    subprocess.run([os.path.join(EXAMPLES, "seed"), "127.0.0.1", str(port), str(n), "10", "1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# A minimal MQTT 3.1.1 client: exactly the packets the experiment needs, nothing hidden.

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


class Conn:
    def __init__(self, port, client_id):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        body = mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + mqtt_str(client_id)
        self.sock.sendall(packet(0x10, body))
        first, _ = self.next(10)
        kind = None if first is None else first >> 4
        if kind != 2:
            raise RuntimeError(f"expected CONNACK, got packet type {kind}")

    def next(self, timeout):
        """(type, body) of the next packet, or (None, None) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        break
                else:
                    i = None
                if i is not None and len(self.buf) >= i + n:
                    first = self.buf[0]
                    body = bytes(self.buf[i:i + n])
                    del self.buf[:i + n]
                    return first, body
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None, None
            chunk = self.sock.recv(1 << 20)
            # Acknowledge at once: mosquitto holds its next packet back until we do (Nagle).
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not chunk:
                raise RuntimeError("the broker closed the connection")
            self.buf += chunk

    def subscribe(self, filters):
        body = struct.pack("!H", 1) + b"".join(mqtt_str(f) + bytes([q]) for f, q in filters)
        self.sock.sendall(packet(0x82, body))

    def publish(self, topic, payload, qos, pid=2):
        body = mqtt_str(topic) + (struct.pack("!H", pid) if qos else b"") + payload
        self.sock.sendall(packet(0x30 | (qos << 1), body))

    def close(self):
        try:
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()


def publish_fields(first, body):
    (tlen,) = struct.unpack_from("!H", body)
    topic = body[2:2 + tlen].decode(errors="replace")
    qos = (first >> 1) & 3
    pid = struct.unpack_from("!H", body, 2 + tlen)[0] if qos else None
    return topic, bool(first & 1), qos, pid


def order_run(port, n, exact):
    """One run: returns (late, max silence after the probe before a late one, max gap in the
    snapshot, ms to the probe's echo, ms to the last retained message, messages before the
    SUBACK)."""
    token = f"{random.getrandbits(64):016x}"
    probe = f"mqtt-scan/probe/{token}"
    c = Conn(port, f"order-{token}")
    filters = ([(f"sensors/connected/dev{i}", 0) for i in range(n)] if exact else [(FILTER, 0)])
    t0 = time.monotonic()
    c.subscribe(filters + [(probe, 1)])
    got = late = early = 0
    subacked = False
    echo_at = last = None
    gap = silence = 0.0
    while got < n or echo_at is None:
        try:
            first, body = c.next(5 if echo_at is None else 3)
        except RuntimeError as e:
            phase = "after the probe's echo" if echo_at else "after the SUBACK" if subacked else (
                "before the SUBACK")
            raise RuntimeError(f"{e} {phase}") from None
        now = time.monotonic()
        if first is None:
            break
        kind = first >> 4
        if kind == 9:  # SUBACK: the probe goes out now
            subacked = True
            c.publish(probe, b"probe", 1)
        elif kind == 3:
            topic, retain, qos, pid = publish_fields(first, body)
            if qos == 1:
                c.sock.sendall(b"\x40\x02" + struct.pack("!H", pid))
            if topic == probe:
                echo_at = now
            elif not subacked:
                early += 1  # amqtt: the previous session's retained messages, before our SUBACK
            elif retain and topic.startswith("sensors/"):
                got += 1
                if last is not None:
                    gap = max(gap, now - last)
                if echo_at is not None:
                    late += 1
                    silence = max(silence, now - max(echo_at, last or echo_at))
                last = now
    c.close()
    if got < n:
        raise RuntimeError(f"only {got} of {n} retained messages arrived")
    if echo_at is None:
        raise RuntimeError("the probe never came back")
    return (late, silence * 1e3, gap * 1e3, (echo_at - t0) * 1e3, ((last or t0) - t0) * 1e3,
            early)


def order(broker, n, runs):
    exact = broker.exact_only
    if exact and n > 1000:
        print(f"  {broker.name} n={n}: skipped (exact-topic subscriptions only, n <= 1000)")
        return None
    late_runs = late_total = 0
    silences, gaps, echoes, lasts = [], [], [], []
    early_runs = 0
    errors = {}
    for _ in range(runs):
        try:
            late, silence, gap, echo, last, early = order_run(broker.port, n, exact)
        except (RuntimeError, OSError) as e:
            errors[str(e)] = errors.get(str(e), 0) + 1
            continue
        early_runs += bool(early)
        if late:
            late_runs += 1
            late_total += late
            silences.append(silence)
        gaps.append(gap)
        echoes.append(echo)
        lasts.append(last)
    result = {
        "broker": broker.name, "n": n, "runs": runs, "exact": exact,
        "runs_with_late": late_runs, "late_messages": late_total,
        "runs_with_messages_before_suback": early_runs,
        "max_silence_before_late_ms": round(max(silences), 2) if silences else None,
        "max_gap_ms": round(max(gaps), 2) if gaps else None,
        "median_echo_ms": round(statistics.median(echoes), 2) if echoes else None,
        "median_last_retained_ms": round(statistics.median(lasts), 2) if lasts else None,
        "failed_runs": errors,
    }
    print("  " + json.dumps(result), flush=True)
    return result


def wall(cmd):
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.monotonic() - t, p


def timing(cls, n, runs):
    """Paired, alternating runs of `list` and `mosquitto_sub -C N` against one seeded broker
    (a fresh one for each command where earlier subscribers change what a new one gets)."""
    if cls.exact_only:
        print(f"  {cls.name} n={n}: skipped (no retained messages for a wildcard)")
        return None

    def commands(port):
        scan = [BIN, "list", "-b", f"mqtt://127.0.0.1:{port}", "-t", "sensors/connected/+",
                "--format", "json"]
        sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", FILTER,
               "-C", str(n), "-W", "30"]
        return scan, sub

    def checked(which, port):
        scan, sub = commands(port)
        t, p = wall(scan if which == 0 else sub)
        if which == 0:
            out = json.loads(p.stdout)
            if len(out["clients"]) != n or not out["complete"]:
                raise RuntimeError(f"{cls.name}: list saw {len(out['clients'])} of {n}, "
                                   f"complete={out['complete']}: {p.stderr.decode()[:200]}")
        elif p.stdout.count(b"\n") != n:
            raise RuntimeError(f"mosquitto_sub -C {n} got {p.stdout.count(10)} lines")
        return t

    times = ([], [])
    shared = None if cls.fresh_per_run else cls()
    try:
        if shared:
            seed(shared.port, n)
            checked(0, shared.port)  # warm-up, and the check that list is exact
        for _ in range(runs):
            for which in (0, 1):
                if shared:
                    times[which].append(checked(which, shared.port))
                    continue
                broker = cls()
                try:
                    seed(broker.port, n)
                    times[which].append(checked(which, broker.port))
                finally:
                    broker.stop()
    finally:
        if shared:
            shared.stop()
    ma, mb = statistics.median(times[0]), statistics.median(times[1])
    result = {"broker": cls.name, "n": n, "runs": runs, "list_ms": round(ma * 1e3, 1),
              "mosquitto_sub_ms": round(mb * 1e3, 1), "ratio": round(ma / mb, 2),
              "fresh_broker_per_run": cls.fresh_per_run}
    print("  " + json.dumps(result), flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["order", "time"])
    ap.add_argument("--brokers", default=",".join(BROKERS))
    ap.add_argument("--sizes", default="5,10000")
    ap.add_argument("--runs", default=None, help="one count, or one per size")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    default_runs = {"order": "2000,300", "time": "20"}[args.mode]
    runs = [int(r) for r in (args.runs or default_runs).split(",")]
    runs = (runs * len(sizes))[:len(sizes)] if len(runs) == 1 else runs
    need = [os.path.join(EXAMPLES, "seed")] + ([BIN] if args.mode == "time" else [])
    if any(not os.path.exists(p) for p in need):
        sys.exit("brokers.py: cargo build --release --examples first")
    results = []
    for name in args.brokers.split(","):
        cls = BROKERS[name]
        why = cls.missing()
        if why:
            print(f"{name}: skipped, not installed ({why})")
            continue
        print(f"{name}:", flush=True)
        for n, r in zip(sizes, runs):
            if args.mode == "time":
                res = timing(cls, n, r)
            else:
                broker = cls()
                try:
                    seed(broker.port, n)
                    res = order(broker, n, r)
                finally:
                    broker.stop()
            if res:
                results.append(res)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
