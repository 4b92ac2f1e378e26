"""Federated search across three local nodes against a local search, and what signing costs.

    .venv/bin/python bench/federation.py [--docs 3000] [--queries 200] [--workdir DIR]

Builds three data directories (one per node, each with its own generated bilingual
documents of another agency; kept in --workdir for re-runs), starts three real
``savoir serve`` processes on loopback that list each other as peers, then asks node a
the same queries through ``/api/v1/search`` (this node only) and
``/api/v1/federated/search`` (a, b and c merged), one at a time, and prints p50/p95 of
each. Signing is timed apart: HMAC-SHA256 signing and verifying one request body.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search_latency import percentile  # noqa: E402
from bench.synthetic import TOPICS, generate  # noqa: E402
from config.loader import FederationSettings, PeerSettings, SourceConfig, build_settings  # noqa: E402
from connectors.base import Connector, Contribution, Document, Person, Role, register  # noqa: E402
from crawler.runner import Savoir  # noqa: E402
from webui import federation as fed  # noqa: E402

NODES = {"a": "cra", "b": "ssc", "c": "tbs"}
KEYS = {"ab": "bench-key-a-and-b-000001", "ac": "bench-key-a-and-c-000002", "bc": "bench-key-b-and-c-000003"}
PLAN = {"n": 0, "node": "a"}


@dataclass
class _Settings:
    pass


@register("bench-federation")
class NodeDocuments(Connector):
    Settings = _Settings

    def documents(self, checkpoint=None):
        node = PLAN["node"]
        for d in generate(PLAN["n"], seed=ord(node)):
            yield Document(
                id=self.doc_id(d["id"]),
                url=f"https://{node}.intranet.example/{d['id']}",
                title=d["title"],
                text=d["text"],
                language=d["language"],
                created=d["modified"],
                modified=d["modified"],
                contributions=(
                    Contribution(Person(d["author"]), Role.AUTHOR, d["modified"], len(d["text"])),
                ),
                acl=("public",),
            )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _key(x: str, y: str) -> str:
    return KEYS["".join(sorted(x + y))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=3000, help="documents per node")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", default="bench/out/federation")
    args = parser.parse_args()
    work = Path(args.workdir).resolve()
    for node, agency in NODES.items():
        data = work / node / "data"
        settings = build_settings({"store": {"data_dir": str(data)}, "crawler": {"batch_size": 500}}, env={})
        savoir = Savoir(settings, [SourceConfig(id=f"{node}-docs", kind="bench-federation", agency=agency)])
        if savoir.store.counts()["documents"] < args.docs:
            PLAN.update(n=args.docs, node=node)
            started = time.perf_counter()
            (report,) = savoir.crawl(full=True)
            print(f"node {node}: {report.summary()} in {time.perf_counter() - started:.0f} s", flush=True)
        savoir.close()
    ports = {n: _free_port() for n in NODES}
    procs = []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for node, agency in NODES.items():
        peers = "".join(
            f'[[federation.peers]]\nname = "{other}"\nurl = "http://127.0.0.1:{ports[other]}"\n'
            f'secret = "{_key(node, other)}"\nagency = "{NODES[other]}"\ntimeout = 2.0\n'
            for other in NODES
            if other != node
        )
        conf = work / node / "settings.toml"
        conf.write_text(
            f'[store]\ndata_dir = "{work / node / "data"}"\n[web]\nport = {ports[node]}\n'
            f'[federation]\nnode = "{node}"\nagency = "{agency}"\ndeadline_ms = 2000\n{peers}'
        )
        (work / node / "sources.toml").write_text("")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "webui.cli", "--config", str(conf), "serve"],
                cwd=work / node,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        base = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        for n in NODES:
            deadline = time.monotonic() + 120
            while True:
                try:
                    requests.get(f"{base[n]}/healthz", timeout=5)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"node {n} never answered") from None
                    time.sleep(0.3)
        rng = random.Random(5)
        queries = [rng.choice([t, TOPICS[t]]) for t in rng.choices(list(TOPICS), k=args.queries)]
        session = requests.Session()
        for q in queries[:10]:  # warm up every node's caches
            session.get(f"{base['a']}/api/v1/federated/search", params={"q": q}, timeout=30)
        local_ms, fed_ms, answered = [], [], []
        for q in queries:
            t0 = time.perf_counter()
            session.get(f"{base['a']}/api/v1/search", params={"q": q}, timeout=30).raise_for_status()
            t1 = time.perf_counter()
            answer = session.get(f"{base['a']}/api/v1/federated/search", params={"q": q}, timeout=30)
            t2 = time.perf_counter()
            answer.raise_for_status()
            local_ms.append((t1 - t0) * 1000)
            fed_ms.append((t2 - t1) * 1000)
            answered.append(sum(p["status"] == "answered" for p in answer.json()["peers"]))
    finally:
        for p in procs:
            p.kill()
            p.wait()
    settings = FederationSettings(node="b", peers=[PeerSettings(name="a", url="http://x", secret=KEYS["ab"])])
    body = b'{"experts":true,"filters":{},"limit":10,"query":"access to information","user":{"groups":["public"]}}'
    n, seen = 20000, set()
    t0 = time.perf_counter()
    for _ in range(n):
        headers = fed.sign(KEYS["ab"], "POST", fed.SEARCH_PATH, "a", body)
    sign_us = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        headers = fed.sign(KEYS["ab"], "POST", fed.SEARCH_PATH, "a", body)
        fed.verify(settings, "POST", fed.SEARCH_PATH, headers, body, lambda a, b, c: (a, b) not in seen)
    both_us = (time.perf_counter() - t0) / n * 1e6
    print(f"nodes: 3 x {args.docs} documents; queries: {len(queries)} (one at a time, to node a)")
    print(f"peers answering per federated search: mean {statistics.mean(answered):.2f} of 2")
    for name, values in (("local search (/api/v1/search)", local_ms), ("federated, 3 nodes", fed_ms)):
        print(f"{name:<32} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms")
    print(
        f"signing one request: {sign_us:.1f} us; signing and verifying it (nonce check in memory): {both_us:.1f} us"
    )


if __name__ == "__main__":
    main()
