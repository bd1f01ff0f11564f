#!/usr/bin/env python3
"""interleave.py [WINDOWS [PER_WINDOW]] — does Redis's `appendfsync always` make a write
durable faster than the disk's raw floor? compare.sh runs Redis and Sequent one after the
other, so a disk that is fast only during Redis's second cannot be told from a cheaper
sync. This script asks the disk the same question at the same instants: one request at
a time, it rotates through

  redis-eval   one EVALSHA of transfer.lua (Redis appends ~292 B to its AOF and
               fdatasyncs it before replying), a new transfer id each time
  redis-ping   one PING (the same round trip without the disk)
  overwrite    pwrite 288 B into a zero-filled, synced file, then fdatasync: the log's
               pattern (segments are zero-filled ahead, wal/segment.go)
  append       write 288 B at the end of a growing file, then fdatasync: the AOF's
               pattern (the size changes with every write)
  flush-only   fdatasync of a file with nothing dirty (the device's cache flush alone)

and prints, per window of PER_WINDOW rotations, each step's median in microseconds,
then the median (min-max) of the window medians and in how many windows redis-eval's
median was below overwrite's. Redis 7 (redis-server, redis-cli) on port 6392, files in a
new directory under /tmp (the file system compare.sh uses). Defaults: 10 windows of 400.
"""
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

windows = int(sys.argv[1]) if len(sys.argv) > 1 else 10
per_window = int(sys.argv[2]) if len(sys.argv) > 2 else 400
port = 6392
entry_bytes = 288
file_bytes = 64 << 20  # overwrite wraps to the start here; append never wraps
here = os.path.dirname(os.path.abspath(__file__))


def command(*args):
    """One RESP request."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Connection:
    def __init__(self):
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, request):
        """Sends request and reads one reply: a line, or a bulk string (its value)."""
        self.socket.sendall(request)
        reply = b""
        while not reply.endswith(b"\r\n") or (
                reply.startswith(b"$") and reply.count(b"\r\n") < 2):
            chunk = self.socket.recv(4096)
            if not chunk:
                raise SystemExit("redis closed the connection")
            reply += chunk
        if reply.startswith(b"-"):
            raise SystemExit("redis error: " + reply.decode())
        if reply.startswith(b"$"):
            return reply.split(b"\r\n")[1]
        return reply


def main():
    directory = tempfile.mkdtemp(prefix="interleave.", dir="/tmp")
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--dir", directory, "--appendonly", "yes",
         "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                connection = Connection()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("redis did not start")
        sha = connection.call(command("SCRIPT", "LOAD", open(os.path.join(here, "transfer.lua")).read()))
        run(connection, sha, directory)
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(directory, ignore_errors=True)


def run(connection, sha, directory):
    entry = bytes((i * 7 + 1) % 256 for i in range(entry_bytes))
    overwrite = os.open(os.path.join(directory, "overwrite"), os.O_RDWR | os.O_CREAT, 0o600)
    zeros = bytes(1 << 20)
    for offset in range(0, file_bytes, len(zeros)):
        os.pwrite(overwrite, zeros, offset)
    os.fsync(overwrite)
    append = os.open(os.path.join(directory, "append"), os.O_RDWR | os.O_CREAT, 0o600)
    os.fsync(append)
    clean = os.open(os.path.join(directory, "clean"), os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(clean, entry, 0)
    os.fsync(clean)
    subprocess.run(["sync"])
    positions = {"overwrite": 0, "append": 0}
    transfer = [0]

    def redis_eval():
        transfer[0] += 1
        connection.call(command("EVALSHA", sha, 3, "acct:%d" % random.randrange(10**8),
                                "acct:%d" % random.randrange(10**8),
                                "tx:%d:%d" % (os.getpid(), transfer[0]), 7))

    def redis_ping():
        connection.call(command("PING"))

    def write_overwrite():
        os.pwrite(overwrite, entry, positions["overwrite"])
        os.fdatasync(overwrite)
        positions["overwrite"] = (positions["overwrite"] + entry_bytes) % (file_bytes - entry_bytes)

    def write_append():
        os.pwrite(append, entry, positions["append"])
        os.fdatasync(append)
        positions["append"] += entry_bytes

    def flush_only():
        os.fdatasync(clean)

    steps = {"redis-eval": redis_eval, "redis-ping": redis_ping, "overwrite": write_overwrite,
             "append": write_append, "flush-only": flush_only}
    names = list(steps)
    for _ in range(50):  # warm-up
        for name in names:
            steps[name]()
    medians = {name: [] for name in names}
    print("window " + " ".join("%10s" % n for n in names) + "   (medians, us)")
    for window in range(windows):
        latencies = {name: [] for name in names}
        for rotation in range(per_window):
            shift = rotation % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter_ns()
                steps[name]()
                latencies[name].append((time.perf_counter_ns() - start) / 1000)
        for name in names:
            medians[name].append(statistics.median(latencies[name]))
        print("%6d " % (window + 1) + " ".join("%10.0f" % medians[n][-1] for n in names), flush=True)
    print("median (min-max) of window medians:")
    for name in names:
        values = medians[name]
        print("  %-10s %6.0f (%.0f-%.0f) us" % (name, statistics.median(values), min(values), max(values)))
    below = sum(e < o for e, o in zip(medians["redis-eval"], medians["overwrite"]))
    print("windows where redis-eval's median < overwrite's: %d of %d" % (below, windows))


main()
