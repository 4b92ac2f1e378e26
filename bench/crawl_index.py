"""Documents per second for sync + indexing (store writes, language routing, Whoosh).

    .venv/bin/python bench/crawl_index.py --docs 10000 [--source files|memory]

``files`` writes the generated set as Markdown files and crawls them with the real
files connector (the path a user takes); ``memory`` feeds documents straight to the
sync to show the cost of the spine alone. Prints docs/s and where time went.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import generate  # noqa: E402
from config.loader import SourceConfig, build_settings  # noqa: E402
from connectors.base import Connector, Contribution, Document, Person, Role, register  # noqa: E402
from crawler.runner import Savoir  # noqa: E402

_DOCS: list[dict] = []


@dataclass
class _BenchSettings:
    pass


@register("bench-memory")
class BenchMemory(Connector):
    Settings = _BenchSettings

    def documents(self, checkpoint=None):
        for d in _DOCS:
            yield Document(
                id=self.doc_id(d["id"]),
                url=f"bench://{d['id']}",
                title=d["title"],
                text=d["text"],
                language=d["language"],
                modified=d["modified"],
                created=d["modified"],
                contributions=(
                    Contribution(Person(d["author"]), Role.AUTHOR, d["modified"], len(d["text"])),
                ),
            )


def write_files(root: Path, docs: list[dict]) -> None:
    for d in docs:
        folder = root / d["agency"]
        folder.mkdir(parents=True, exist_ok=True)
        lang = f"lang: {d['language']}\n" if d["language"] else ""
        (folder / f"{d['id']}.md").write_text(
            f"---\ntitle: {d['title']}\nauthor: {d['author']}\ndate: {d['modified']:%Y-%m-%d}\n{lang}---\n\n{d['text']}\n",
            "utf-8",
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--source", choices=["files", "memory"], default="files")
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="savoir-bench-"))
    try:
        docs = list(generate(args.docs))
        if args.source == "files":
            write_files(work / "files", docs)
            source = SourceConfig(
                id="bench", kind="files", agency="bench", settings={"root": str(work / "files")}
            )
        else:
            _DOCS[:] = docs
            source = SourceConfig(id="bench", kind="bench-memory", agency="bench")
        settings = build_settings({"store": {"data_dir": str(work / "data")}}, env={})
        savoir = Savoir(settings, [source])
        savoir.open_index()
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        (report,) = savoir.crawl()
        if profiler:
            profiler.disable()
        crawl_s = time.perf_counter() - started
        started = time.perf_counter()
        count = savoir.reindex()
        reindex_s = time.perf_counter() - started
        print(report.summary())
        print(f"source={args.source} docs={args.docs}")
        print(f"crawl+index: {crawl_s:.1f} s = {args.docs / crawl_s:.0f} docs/s")
        print(f"reindex from store: {reindex_s:.1f} s = {count / reindex_s:.0f} docs/s")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        savoir.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
