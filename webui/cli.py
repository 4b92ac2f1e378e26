"""The ``savoir`` command line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC

import click

from config import secrets
from config.loader import ConfigError, load_settings
from connectors.base import ConnectorError
from crawler.http import FetchError
from crawler.runner import Savoir
from indexer.index_lock import IndexBusy
from indexer.store import StoreError
from webui.serving import run_app

log = logging.getLogger("savoir")


def echo(message: str = "", **options) -> None:
    """click.echo, with every known secret masked (messages may quote what a source said)."""
    click.echo(secrets.scrub(message), **options)


#: requests one server process works on at once: two overlap one's reads with the
#: other's Python; more only queue for the process's GIL
SERVE_THREADS_PER_WORKER = 2
USER_ERRORS = (ConfigError, StoreError, ConnectorError, FetchError, IndexBusy, KeyError)


def _progress_factory(enabled: bool) -> Callable | None:
    if not enabled:
        return None
    from tqdm import tqdm

    bars = []

    def factory(source):
        bar = tqdm(desc=f"{source.id:<18}", unit=" docs", leave=True, dynamic_ncols=True, file=sys.stderr)
        bars.append(bar)
        return lambda kind: bar.update(1)

    factory.bars = bars  # type: ignore[attr-defined]
    return factory


def ensure_free(host: str, port: int) -> None:
    """A port in use is a one-line error before any work, not a traceback after it."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror}; stop what uses it or pass --port"
            ) from None


def _failure_text(ref: str, reason: str) -> str:
    """A failure in one line; reasons usually start with the URL or path the ref names: say it once."""
    return reason if ref.split(":", 1)[-1] in reason else f"{ref}: {reason}"


def print_reports(reports) -> None:
    """Each run's summary with the reasons of its first failures (all: ``status SOURCE --failures``)."""
    for report in reports:
        echo(report.summary())
        for ref, reason in report.failures[:FAILURES_SHOWN]:
            echo(f"    failed: {_failure_text(ref, reason)}")
        more = len(report.failures) - FAILURES_SHOWN
        if more > 0:
            echo(f"    ... and {more} more: savoir status {report.source_id} --failures")


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Settings file (default: $SAVOIR_CONFIG).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Savoir: bilingual search across agencies' wikis, blogs and file shares."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    secrets.install_log_filter()
    ctx.obj = {"config_path": config_path}


def _savoir(ctx: click.Context) -> Savoir:
    if "savoir" not in ctx.obj:
        ctx.obj["savoir"] = Savoir(load_settings(ctx.obj["config_path"]))
    return ctx.obj["savoir"]


@cli.command()
@click.option("--port", default=8080, show_default=True, help="Port of the search UI.")
@click.option("--site-port", default=8079, show_default=True, help="Port of the demo intranet's web server.")
@click.option("--no-serve", is_flag=True, help="Crawl and index, then stop.")
@click.pass_context
def demo(ctx: click.Context, port: int, site_port: int, no_serve: bool) -> None:
    """Serve the bundled demo intranet, crawl it with the real connectors, serve the UI."""
    from webui.demo import run_demo

    run_demo(ctx.obj["config_path"], port=port, site_port=site_port, serve=not no_serve)


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (default from settings).")
@click.option("--port", default=None, type=int, help="Port (default from settings).")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Server processes (default: one per CPU; 1 serves from this process with waitress).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the search UI (the worker does the crawling)."""
    from webui.app import create_app
    from webui.serving import default_workers, multiprocess_available, run_workers

    savoir = _savoir(ctx)
    host = host or savoir.settings.web.host
    port = port or savoir.settings.web.port
    ensure_free(host, port)  # a busy port is said before any work, and before "serving"
    announce = f"Savoir is serving on http://{host}:{port}/"
    workers = workers or default_workers()
    if workers > 1 and multiprocess_available():
        # the index is brought up to date once, here; each worker then opens its own
        # store and index after the fork (none of it may cross a fork)
        savoir.open_index()
        settings = savoir.settings
        savoir.close()
        # plain data, read once here: the workers inherit it, and a replaced worker
        # is ready in about a second rather than after seconds of dictionary reading
        from indexer.glossary import load_glossary

        load_glossary()
        run_workers(
            lambda: create_app(savoir=Savoir(settings)),
            host,
            port,
            workers=workers,
            threads=SERVE_THREADS_PER_WORKER,
            announce=announce,
        )
        return
    app = create_app(savoir=savoir)
    run_app(app, host, port, savoir.settings.web.threads, announce=announce)


@cli.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--full", is_flag=True, help="Ignore checkpoints: walk every source entirely (finds deletions)."
)
@click.option("--progress/--no-progress", default=sys.stderr.isatty(), help="Show progress bars.")
@click.option(
    "--queue", is_flag=True, help="Ask the running worker to run SOURCES instead of running them here."
)
@click.pass_context
def crawl(ctx: click.Context, sources: tuple[str, ...], full: bool, progress: bool, queue: bool) -> None:
    """Run SOURCES now (default: every enabled source)."""
    savoir = _savoir(ctx)
    if queue:
        chosen = [savoir.source(i) for i in sources] if sources else [s for s in savoir.sources if s.enabled]
        for source in chosen:
            request_id = savoir.store.request_run(source.id, full=full, requested_by="cli")
            echo(f"queued run request #{request_id} for {source.id}; the worker picks it up within seconds")
        return
    factory = _progress_factory(progress)
    reports = savoir.crawl(sources, full=full, on_item_factory=factory)
    for bar in getattr(factory, "bars", []):
        bar.close()
    print_reports(reports)
    if any(r.status == "failed" for r in reports):
        ctx.exit(1)


@cli.command()
@click.option(
    "--poll", default=2.0, show_default=True, help="Seconds between checks for queued run requests."
)
@click.pass_context
def worker(ctx: click.Context, poll: float) -> None:
    """Run every enabled source on its schedule and on request (the only index writer)."""
    from crawler.worker import run_worker

    # a long-running service says what it does: runs, their outcome, stops
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    run_worker(_savoir(ctx), poll_seconds=poll)


@cli.command()
@click.option("--progress/--no-progress", default=sys.stderr.isatty())
@click.pass_context
def reindex(ctx: click.Context, progress: bool) -> None:
    """Rebuild the index from the store, touching no source."""
    savoir = _savoir(ctx)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="reindex", unit=" docs", file=sys.stderr)
    count = savoir.reindex(progress=bar.update if bar else None)
    if bar:
        bar.close()
    echo(f"reindexed {count} documents into {savoir.settings.index_dir}")


@cli.command()
@click.argument("query")
@click.option("--groups", default="", help="Comma-separated groups of the user (default: public groups).")
@click.option("--page", default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(ctx: click.Context, query: str, groups: str, page: int, as_json: bool) -> None:
    """Search the index as a user with GROUPS."""
    from indexer.search import Searcher, SearchRequest

    savoir = _savoir(ctx)
    group_list = tuple(g.strip() for g in groups.split(",") if g.strip()) or tuple(
        savoir.settings.search.public_groups
    )
    results = Searcher(savoir.open_index(), savoir.store).search(
        SearchRequest(query=query, groups=group_list, page=page, page_size=savoir.settings.web.page_size)
    )
    if as_json:
        echo(
            json.dumps(
                {
                    "total": results.total,
                    "hits": [
                        {
                            "id": h.id,
                            "title": h.title,
                            "agency": h.agency,
                            "language": h.language,
                            "url": h.url,
                        }
                        for h in results.hits
                    ],
                    "facets": {k: dict(v) for k, v in results.facets.items()},
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    echo(f"{results.total} results ({results.took_ms:.0f} ms)")
    for rank, hit in enumerate(results.hits, start=(page - 1) * savoir.settings.web.page_size + 1):
        echo(f"{rank:>3}. [{hit.agency}/{hit.language}] {hit.title}  <{hit.url}>")
    for name, counts in results.facets.items():
        if counts:
            echo(f"     {name}: " + ", ".join(f"{v} ({n})" for v, n in counts[:8]))


@cli.group()
def sources() -> None:
    """List or check the configured sources."""


@sources.command("list")
@click.option(
    "--settings", "show_settings", is_flag=True, help="Also print each source's settings (secrets masked)."
)
@click.pass_context
def sources_list(ctx: click.Context, show_settings: bool) -> None:
    """The configured sources."""
    savoir = _savoir(ctx.find_root())
    echo(f"sources file: {savoir.settings.sources_path}")
    for source in savoir.sources:
        state = "enabled" if source.enabled else "disabled"
        echo(
            f"{source.id:<20} {source.kind:<10} {source.agency:<12} {state:<9} {source.schedule or 'manual'}"
        )
        if show_settings:
            for item in savoir.describe_settings(source):
                echo(f"    {item['name']} = {item['value']!r}")


@sources.command("check")
@click.argument("source_ids", nargs=-1)
@click.pass_context
def sources_check(ctx: click.Context, source_ids: tuple[str, ...]) -> None:
    """Test each source's connection and settings."""
    savoir = _savoir(ctx.find_root())
    chosen = [savoir.source(i) for i in source_ids] if source_ids else savoir.sources
    bad = 0
    for source in chosen:
        try:
            # a check answers in seconds: one try per request, no backoff
            savoir.connector(source, savoir.http_session(checking=True)).check()
        except (ConnectorError, FetchError, ConfigError) as exc:
            bad += 1
            echo(f"{source.id}: FAILED - {exc}")
        else:
            echo(f"{source.id}: ok")
    if bad:
        ctx.exit(1)


#: failures shown per source by ``status``; ``status SOURCE --failures`` pages through all
FAILURES_SHOWN = 5


@cli.command()
@click.argument("source_id", required=False)
@click.option("--failures", "list_failures", is_flag=True, help="List every failure of SOURCE's last run.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1), help="Page of --failures.")
@click.option("--per-page", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def status(ctx: click.Context, source_id: str | None, list_failures: bool, page: int, per_page: int) -> None:
    """The last run of every source (or of SOURCE) and what the store holds."""
    savoir = _savoir(ctx)
    store = savoir.store
    # a run whose process died says "interrupted", not "running" until the next crawl
    savoir.mark_interrupted_runs()
    if list_failures:
        if not source_id:
            raise click.UsageError("--failures needs a SOURCE: savoir status SOURCE --failures")
        _print_failures(store, source_id, page, per_page)
        return
    counts = store.counts()
    last = store.last_runs()
    echo(f"store: {counts['documents']} documents, {counts['people']} people")
    try:
        configured = savoir.sources
    except ConfigError as exc:
        echo(f"sources: {exc}")
        configured = []
    ids = [s.id for s in configured] + sorted(set(last) - {s.id for s in configured})
    if source_id:
        if source_id not in ids:
            raise click.UsageError(f"no source {source_id!r} (known: {', '.join(ids) or 'none'})")
        ids = [source_id]
    from datetime import datetime

    from crawler.worker import next_runs

    upcoming = next_runs(savoir, datetime.now(UTC)) if configured else {}
    for sid in ids:
        run = last.get(sid)
        docs = counts["per_source"].get(sid, 0)
        nxt = upcoming.get(sid)
        after = f"  next {nxt:%Y-%m-%d %H:%M} UTC" if nxt else "  manual"
        if run is None:
            echo(f"{sid:<20} {docs:>6} docs  never run{after}")
            continue
        _print_run(store, sid, docs, run, after)
    # read only: status never writes the index (nor waits for a process that does)
    summary = savoir.index_summary()
    if summary is None:
        echo("index: none yet (the next crawl, serve or reindex builds it)")
    else:
        docs, watermark = summary
        behind = store.max_change_seq() - watermark
        lag = (
            f" ({behind} store changes not yet in it: the next crawl or serve adds them)"
            if behind > 0
            else ""
        )
        echo(f"index: {docs} documents, watermark {watermark}{lag}")


def _print_run(store, source_id: str, docs: int, run: dict, after: str) -> None:
    when = run["finished_at"] or run["started_at"]
    hosts = ", ".join(f"{h}: {n}" for h, n in sorted((run["requests"] or {}).items()))
    excluded = ", ".join(f"{n} {kind}" for kind, n in sorted((run.get("excluded") or {}).items()))
    echo(
        f"{source_id:<20} {docs:>6} docs  last run #{run['id']} {run['status']} at {when:%Y-%m-%d %H:%M} UTC: "
        f"{run['fetched']} fetched ({run['not_modified']} pages answered 304), +{run['added']} added, "
        f"~{run['updated']} updated, ={run['unchanged']} unchanged, -{run['deleted']} deleted, "
        f"!{run['failed']} failed{after}"
        + (f"\n{'':<28}excluded (not failures): {excluded}" if excluded else "")
        + (f"\n{'':<28}requests: {hosts}" if hosts else "")
        + (f"\n{'':<28}error: {run['error']}" if run["error"] else "")
    )
    total = store.count_failures(run["id"]) if run["failed"] else 0
    for failure in store.run_failures(run["id"], limit=FAILURES_SHOWN) if total else []:
        echo(f"{'':<28}failed: {_failure_text(failure['ref'], failure['reason'])}")
    if total > FAILURES_SHOWN:
        echo(f"{'':<28}... and {total - FAILURES_SHOWN} more failures: savoir status {source_id} --failures")


def _print_failures(store, source_id: str, page: int, per_page: int) -> None:
    runs = store.runs(source_id, limit=1)
    if not runs:
        echo(f"{source_id}: never run")
        return
    run = runs[0]
    total = store.count_failures(run["id"])
    pages = max(1, -(-total // per_page))
    if page > pages:
        raise click.UsageError(
            f"--page {page}: run #{run['id']} of {source_id} has {pages} page(s) of failures"
        )
    rows = store.run_failures(run["id"], offset=(page - 1) * per_page, limit=per_page)
    first = (page - 1) * per_page + 1
    echo(
        f"{source_id}: run #{run['id']} ({run['status']}): {total} failures"
        + (f"; {first}-{first + len(rows) - 1}, page {page} of {pages}" if total else "")
    )
    for failure in rows:
        kind = "for now" if failure["transient"] else "failed"
        echo(f"  {kind}: {_failure_text(failure['ref'], failure['reason'])}")
    if page < pages:
        echo(f"next: savoir status {source_id} --failures --page {page + 1}")


def _add_subcommands() -> None:
    from webui.peers_cli import peers
    from webui.users_cli import users

    cli.add_command(users)
    cli.add_command(peers)


_add_subcommands()


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="savoir", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.message = secrets.scrub(exc.message)
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        echo("aborted", err=True)
        sys.exit(130)
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        echo(f"savoir: error: {message}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
