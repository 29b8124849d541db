#!/usr/bin/env python3
"""Instructions per query, counted by callgrind: a repeatable A/B figure on a noisy machine.

Throughput on two shared cores swings by 2x between runs of one binary; the instructions the
subgraph executes for a query do not (valgrind counts them, whatever else the machine does). This
starts the sandbox (`BINARY sandbox`) and, for each binary given, `BINARY serve` under
`valgrind --tool=callgrind` against it, warms it up, then counts the user-space instructions of
REQUESTS sequential queries of each kind over one keep-alive connection and prints them per query,
with each binary's ratio to the first. Kernel work (sockets) is not counted: `subgraph.rs` measures
that side. The callgrind files stay in the output directory for `callgrind_annotate`.

    python3 benches/instructions.py target/release/ghl-subgraph [OTHER_BINARY ...]
        [--requests N] [--out DIR]

Needs valgrind (Debian's `valgrind` package).
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

WRITE_TOKEN = "sandbox-write-token"
LOCATION_ID = "sandbox-location"
SCOPES = "contacts.readonly contacts.write locations/tasks.readonly"

LOADS = [
    ("typename", "{ __typename }"),
    ("single", "query($id: ID!) { contact(id: $id) { id name email phone tags } }"),
    ("nested", "query($id: ID!) { contact(id: $id) { id name tasks { id title } notes { id body } appointments { id startTime } } }"),
]


def start(command):
    """Starts `command`; returns it and the URL its first stdout line ends with."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"(http://[0-9.:]+)", line)
    if not match:
        process.kill()
        sys.exit(f"no URL in the first line of {command[0]}: {line!r}")
    # Keep draining, so a full pipe never blocks the child.
    threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()
    return process, match.group(1)


class Client:
    def __init__(self, url):
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)

    def query(self, query, variables=None):
        body = json.dumps({"query": query, "variables": variables or {}})
        self.connection.request("POST", "/graphql", body, {"content-type": "application/json"})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200 or answer.get("errors"):
            sys.exit(f"query failed ({response.status}): {answer}")
        return answer


def count(binary, sandbox_url, requests, out_dir, tag):
    """Instructions per query of each load for `binary`."""
    out_file = os.path.join(out_dir, f"callgrind.{tag}.%p")
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
        binary, "serve", "--listen", "127.0.0.1:0", "--ghl-base-url", sandbox_url,
        "--ghl-token", WRITE_TOKEN, "--ghl-location-id", LOCATION_ID, "--ghl-scopes", SCOPES,
        "--rate-limit", "100000000/1s", "--daily-limit", "1000000000000",
        # Uncached, as in `cargo bench --bench subgraph`: every query reaches the sandbox.
        "--cache-ttl", "0s",
    ]
    env_before = os.environ.get("RUST_LOG")
    os.environ["RUST_LOG"] = "warn"
    process, url = start(command)
    if env_before is None:
        del os.environ["RUST_LOG"]
    try:
        client = Client(url)
        ids = [n["id"] for n in client.query("{ contacts(first: 100) { nodes { id } } }")["data"]["contacts"]["nodes"]]
        figures = {}
        for name, query in LOADS:
            variables = lambda i: {"id": ids[i % len(ids)]} if "$id" in query else {}
            for i in range(max(50, requests // 10)):
                client.query(query, variables(i))
            subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["callgrind_control", "--instr=on", str(process.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(requests):
                client.query(query, variables(i))
            subprocess.run(["callgrind_control", "--instr=off", str(process.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = set(os.listdir(out_dir))
            subprocess.run(["callgrind_control", "--dump=" + name, str(process.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            figures[name] = total_of(wait_for_dump(out_dir, before)) / requests
        return figures
    finally:
        process.kill()
        process.wait()


def wait_for_dump(out_dir, before):
    deadline = time.time() + 60
    while time.time() < deadline:
        new = [f for f in set(os.listdir(out_dir)) - before]
        if new:
            time.sleep(0.5)
            return os.path.join(out_dir, new[0])
        time.sleep(0.1)
    sys.exit("callgrind wrote no dump")


def total_of(path):
    with open(path) as dump:
        for line in dump:
            # `summary:` is not kept up to date by dumps on request; `totals:` is.
            if line.startswith("totals:"):
                return int(line.split()[1])
    sys.exit(f"no totals in {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out_dir = args.out or tempfile.mkdtemp(prefix="instructions-")
    os.makedirs(out_dir, exist_ok=True)
    sandbox, sandbox_url = start([args.binaries[0], "sandbox", "--listen", "127.0.0.1:0", "--rate-limit", "100000000/1s", "--daily-limit", "1000000000000"])
    try:
        results = [(binary, count(binary, sandbox_url, args.requests, out_dir, f"b{i}")) for i, binary in enumerate(args.binaries)]
    finally:
        sandbox.kill()
        sandbox.wait()
    print(f"instructions per query (callgrind, user space, {args.requests} sequential queries each; dumps in {out_dir})")
    print(f"{'binary':<40}" + "".join(f"{name:>14}" for name, _ in LOADS))
    base = results[0][1]
    for binary, figures in results:
        print(f"{binary[-40:]:<40}" + "".join(f"{figures[name]:>14,.0f}" for name, _ in LOADS))
        if figures is not base:
            print(f"{'  ratio to the first':<40}" + "".join(f"{figures[name] / base[name]:>14.3f}" for name, _ in LOADS))


if __name__ == "__main__":
    main()
