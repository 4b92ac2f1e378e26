"""The spine: connector items -> store -> index, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import ConnectorError, register
from indexer.search import Searcher, SearchRequest
from tests.conftest import memory_source
from tests.memory_connector import BROKEN, MemoryConnector


def page(text: str, **extra) -> dict:
    return {"text": text, **extra}


def ids_found(savoir, query: str, groups=("public",)) -> set[str]:
    results = Searcher(savoir.open_index(), savoir.store).search(
        SearchRequest(query, groups=groups, page_size=50)
    )
    return {h.id for h in results.hits}


def test_full_incremental_update_and_deletion(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {
        f"p{i:02d}": page(f"Procurement guidance number {i} for contracting officers.", version=1)
        for i in range(30)
    }
    savoir = savoir_factory([memory_source(checkpoint_every=7)], database_url, crawler={"batch_size": 5})
    (first,) = savoir.crawl()
    assert (first.mode, first.status, first.added, first.failed) == ("full", "success", 30, 0)
    assert len(ids_found(savoir, "procurement")) == 30

    # nothing changed: the incremental run writes nothing
    (second,) = savoir.crawl()
    assert second.mode == "incremental" and second.added == second.updated == 0

    # one page edited: only it is updated
    memory_content["wiki"]["p03"] = page("Telework agreements replace the old procurement note.", version=2)
    (third,) = savoir.crawl()
    assert (third.updated, third.added) == (1, 0)
    assert ids_found(savoir, "telework") == {"wiki:p03"}

    # unchanged content with --full: everything is skipped by its hash
    (fourth,) = savoir.crawl(full=True)
    assert (fourth.unchanged, fourth.updated, fourth.added, fourth.deleted) == (30, 0, 0, 0)

    # a page vanished: a full run tombstones it, reports it, and search forgets it
    del memory_content["wiki"]["p07"]
    (fifth,) = savoir.crawl(full=True)
    assert fifth.deleted == 1
    assert "wiki:p07" not in ids_found(savoir, "procurement")
    assert savoir.store.live_ids("wiki") == {f"wiki:p{i:02d}" for i in range(30) if i != 7}
    runs = savoir.store.runs("wiki")
    assert [r["deleted"] for r in runs][0] == 1 and runs[0]["status"] == "success"


def test_failed_items_are_recorded_and_never_tombstoned(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {
        "a": page("Fraud risk assessment for grants."),
        "b": page("Fraud hotline procedures."),
    }
    savoir = savoir_factory([memory_source()], database_url)
    savoir.crawl()
    BROKEN["wiki"] = {"b"}
    (report,) = savoir.crawl(full=True)
    assert report.status == "partial" and report.failed == 1 and report.deleted == 0
    failures = savoir.store.run_failures(report.run_id)
    assert [(f["ref"], f["reason"]) for f in failures] == [("wiki:b", "b: unreadable")]
    assert ids_found(savoir, "fraud") == {"wiki:a", "wiki:b"}


@register("exploding")
class ExplodingConnector(MemoryConnector):
    """Yields a few documents, then the source goes away."""

    def documents(self, checkpoint=None):
        items = list(super().documents(checkpoint))
        yield from items[:2]
        raise ConnectorError("https://wiki.example/api.php answered HTTP 503: try again later")


def test_source_failure_is_a_failed_run_not_a_crash(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {f"p{i}": page(f"Official languages note {i}.") for i in range(5)}
    source = memory_source()
    savoir = savoir_factory([source], database_url)
    savoir.crawl()
    source.kind = "exploding"
    (report,) = savoir.crawl(full=True)
    assert report.status == "failed"
    assert "HTTP 503" in report.error
    # an aborted full run never tombstones what it did not get to see
    assert report.deleted == 0 and len(savoir.store.live_ids("wiki")) == 5
    run = savoir.store.runs("wiki")[0]
    assert run["status"] == "failed" and "HTTP 503" in run["error"]
    assert savoir.store.run_failures(run["id"])[0]["ref"] == "wiki"


def test_checkpoint_is_saved_with_its_batch(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {f"p{i:02d}": page(f"Accessibility standard {i}.") for i in range(20)}
    source = memory_source(checkpoint_every=6)
    savoir = savoir_factory([source], database_url, crawler={"batch_size": 100})
    source.kind = "exploding"  # dies after two documents, before any checkpoint
    savoir.crawl()
    assert savoir.store.checkpoint("wiki") is None
    assert len(savoir.store.live_ids("wiki")) == 2  # what the source gave before failing is kept
    source.kind = "memory"
    savoir.crawl()
    assert savoir.store.checkpoint("wiki") == {"version": 0}
    assert len(savoir.store.live_ids("wiki")) == 20


def test_unchanged_documents_are_not_rewritten(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {"a": page("Open data portal publishing checklist.")}
    savoir = savoir_factory([memory_source()], database_url)
    savoir.crawl()
    seq = savoir.store.max_change_seq()
    savoir.crawl(full=True)
    assert savoir.store.max_change_seq() == seq


def test_times_round_trip_as_utc(savoir_factory, memory_content, database_url):
    when = datetime(2024, 5, 17, 13, 45, tzinfo=UTC)
    memory_content["wiki"] = {"a": page("Records retention schedule.", modified=when)}
    savoir = savoir_factory([memory_source()], database_url)
    savoir.crawl()
    doc = savoir.store.documents_by_id(["wiki:a"])["wiki:a"]
    assert doc.modified == when and doc.modified.tzinfo is not None


def test_people_are_one_per_email_and_per_name_within_an_agency(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {
        "a": page("Plain language guide.", author="Geneviève Tremblay", email="G.Tremblay@records.example"),
        "b": page(
            "Plain language checklist.", author="Tremblay, Geneviève", email="g.tremblay@records.example"
        ),
        "c": page("Writing for the web.", author="Sam Okafor"),
        "d": page("Writing for the web, part 2.", author="Okafor, Sam"),
    }
    memory_content["other"] = {"x": page("Writing tips.", author="Sam Okafor")}
    savoir = savoir_factory([memory_source(), memory_source("other", agency="fraud")], database_url)
    savoir.crawl()
    # one Geneviève (same email), one Sam in records, and a distinct Sam in another agency
    assert savoir.store.counts()["people"] == 3


@pytest.mark.parametrize("bad_id", ["elsewhere:a"])
def test_ids_outside_the_source_are_refused(savoir_factory, memory_content, bad_id):
    @register("leaky")
    class Leaky(MemoryConnector):
        def doc_id(self, native_id):
            return bad_id

    memory_content["wiki"] = {"a": page("Security screening levels.")}
    source = memory_source()
    source.kind = "leaky"
    savoir = savoir_factory([source])
    (report,) = savoir.crawl()
    assert report.failed == 1 and report.added == 0


def test_change_log_is_pruned_once_indexed_and_an_older_index_rebuilds(
    savoir_factory, memory_content, database_url, tmp_path
):
    memory_content["wiki"] = {f"p{i}": page(f"Records retention note {i}.", version=1) for i in range(12)}
    savoir = savoir_factory([memory_source()], database_url, crawler={"batch_size": 5})
    savoir.crawl()
    store = savoir.store
    newest = store.max_change_seq()
    # the index holds every change: only the newest row is kept (numbers never restart)
    assert store.changes_since(0) == [(newest, store.changes_since(newest - 1)[0][1])]
    memory_content["wiki"]["p3"] = page("Records retention note 3, revised for telework.", version=2)
    savoir.crawl()
    assert store.max_change_seq() == newest + 1 and len(store.changes_since(0)) == 1
    assert ids_found(savoir, "telework") == {"wiki:p3"}

    # an index copied before those changes cannot replay them: it rebuilds, complete
    from indexer.index import SearchIndex

    stale = SearchIndex(tmp_path / "stale-index")
    stale._write_state(1)  # as if it had seen only the first change
    stale.catch_up(store)
    with stale.searcher() as s:
        assert s.doc_count() == 12
    stale.close()


def test_an_index_held_by_another_process_never_fails_the_run(savoir_factory, memory_content, monkeypatch):
    """The store has every batch; the index catches up when its writer lets go."""
    from indexer import index as index_module
    from indexer.index_lock import IndexLock

    memory_content["wiki"] = {f"p{i}": {"text": f"Page {i} about telework."} for i in range(30)}
    savoir = savoir_factory([memory_source()], crawler={"batch_size": 5, "index_every": 10})
    savoir.open_index()
    monkeypatch.setattr(index_module, "WRITER_TIMEOUT", 0.2)
    other = IndexLock(savoir.settings.index_dir.with_name("index.lock"))
    assert other.acquire(0)  # "another process" holds the index for the whole run
    try:
        (report,) = savoir.crawl()
    finally:
        other.release()
    assert report.added == 30 and report.status == "success", report.summary()
    assert savoir.store.counts()["documents"] == 30
    assert savoir.open_index().catch_up(savoir.store) == 30
    assert savoir.open_index().doc_count() == 30


def test_a_very_long_url_is_stored_and_looked_up_by_url(savoir_factory, memory_content, database_url):
    # documents.url is indexed for the cross-source URL rule; on PostgreSQL a btree
    # index refuses keys over ~2.7 KB, which a web page's URL can exceed
    import secrets

    from sqlalchemy import inspect, select

    from indexer.store import documents

    # random, so PostgreSQL cannot compress the key under its limit
    long_url = "https://intranet.example/search?" + "&".join(f"f{i}={secrets.token_hex(8)}" for i in range(300))
    assert len(long_url) > 5000
    memory_content["wiki"] = {"long": page("Long address")}
    savoir = savoir_factory([memory_source()], database_url)
    savoir.crawl()
    assert "ix_documents_url" in {ix["name"] for ix in inspect(savoir.store.engine).get_indexes("documents")}
    with savoir.store.engine.begin() as conn:  # the memory connector names its own URLs
        conn.execute(documents.update().where(documents.c.id == "wiki:long").values(url=long_url))
    with savoir.store.engine.connect() as conn:
        found = conn.execute(select(documents.c.id).where(documents.c.url == long_url)).scalars().all()
    assert found == ["wiki:long"]


def test_one_sources_documents_are_read_in_id_order_batch_after_batch(
    savoir_factory, memory_content, database_url
):
    """What twin pairing reads a source by: every live page of the source, once, in id
    order, each batch a range of the (source, id) index (a million pages cost no more
    per batch than a hundred)."""
    from sqlalchemy import inspect

    memory_content["wiki"] = {f"p{i:02d}": page(f"Travel claims, note {i}.") for i in range(23)}
    memory_content["blog"] = {f"b{i:02d}": page(f"Leave policy, note {i}.") for i in range(9)}
    savoir = savoir_factory([memory_source("wiki"), memory_source("blog")], database_url)
    savoir.crawl()
    del memory_content["wiki"]["p05"]
    savoir.crawl(full=True)  # p05 is gone: deleted
    store = savoir.store
    wiki = [d.id for d in store.iter_documents(batch=4, sources=["wiki"])]
    assert wiki == sorted(wiki) and len(wiki) == 22 and "wiki:p05" not in wiki
    both = [d.source_id for d in store.iter_documents(batch=4, sources=["wiki", "blog", "wiki"])]
    assert both == ["wiki"] * 22 + ["blog"] * 9
    assert len(list(store.iter_documents(batch=4))) == 31
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(store.engine).get_indexes("documents")}
    assert indexes["ix_documents_source_doc"] == ["source_id", "id"]


def test_a_batch_gives_each_contributor_one_identity_row(database_url, tmp_path):
    # the batch's people are read and inserted a few statements a batch: a person twice
    # in one batch, again in the next batch, and new ones beside known ones
    from sqlalchemy import func, select

    from connectors.base import Contribution, Document, Person, Role
    from indexer.store import Store, people

    store = Store(database_url)
    run = store.start_run("wiki", "full")
    ada, bob = Person("Ada Lovelace", email="Ada@Example.org"), Person("Bob Tremblay", username="btremblay")
    cleo = Person("Cléo Roy")

    def doc(n, *who):
        return Document(
            id=f"wiki:p{n}", url=f"http://x/{n}", title=f"Page {n}", text="text", agency="records",
            contributions=tuple(Contribution(p, Role.AUTHOR if i == 0 else Role.EDITOR) for i, p in enumerate(who)),
        )

    store.commit_batch(run_id=run, source_id="wiki", upserts=[(doc(1, ada, bob), "h1"), (doc(2, bob, ada), "h2")])
    store.commit_batch(run_id=run, source_id="wiki", upserts=[(doc(3, cleo, ada), "h3"), (doc(4, cleo), "h4")])
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(people)).scalar() == 3
    stored = store.documents_by_id(["wiki:p1", "wiki:p2", "wiki:p3", "wiki:p4"])
    assert stored["wiki:p1"].authors == ["Ada Lovelace"] and "Bob Tremblay" in stored["wiki:p1"].contributors
    assert stored["wiki:p2"].authors == ["Bob Tremblay"]
    assert stored["wiki:p3"].authors == ["Cléo Roy"] and "Ada Lovelace" in stored["wiki:p3"].contributors
    assert stored["wiki:p4"].authors == ["Cléo Roy"]
    store.close()


def test_the_first_catch_up_of_a_run_comes_after_a_quarter_of_index_every(savoir_factory, memory_content):
    # until the first catch-up the writer processes have nothing to do: it comes early,
    # the later ones every index_every documents, the run's last at its end
    memory_content["wiki"] = {f"p{i}": {"text": f"Page {i} about telework."} for i in range(100)}
    savoir = savoir_factory([memory_source()], crawler={"batch_size": 10, "index_every": 40})
    index = savoir.open_index()
    stored_at = []
    real = index.catch_up

    def counting(store, **kwargs):
        stored_at.append(store.counts()["documents"])
        return real(store, **kwargs)

    index.catch_up = counting
    (report,) = savoir.crawl()
    assert report.status == "success", report.summary()
    assert stored_at == [10, 50, 90, 100]
    assert index.doc_count() == 100
