"""Ingest and search through the service, on a real mirror and local index.

The deterministic HashEmbedder stands in for the model here (plumbing); the flows with the
real model run in tests/test_cli.py, tests/test_mcp.py and tests/test_hybrid.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import make_config, write_files
from core.errors import DimensionMismatchError, NamingError
from core.namespaces import ensure_namespace

DOCS = {
    "README.md": """
        # Lightfast

        Lightfast keeps every store in one shared index.

        ## Pelicans

        The migrating pelican colony nests on the northern lagoon every spring.
        """,
    "guide/setup.md": """
        # Setup

        Install the package, then run the ingest command to index the repository.
        """,
    "src/app.py": """
        def compute_invoice_total(lines):
            return sum(line.amount for line in lines)


        class Ledger:
            def balance(self):
                return 42
        """,
}


def index_ids(service, namespace: str) -> set[str]:
    ids, token = [], None
    while True:
        page, token = service.index.list_ids(namespace, limit=100, pagination_token=token)
        ids.extend(page)
        if not token:
            return set(ids)


def assert_consistent(service) -> None:
    """Mirror and index agree exactly: no orphan vectors, no missing chunks, nothing pending."""
    for record in service.namespace_records("store"):
        mirror_ids = service.mirror.vector_ids(record.id)
        assert index_ids(service, record.namespace_name) == mirror_ids
        docs = service.mirror.documents(record.id)
        assert sum(d["chunk_count"] for d in docs.values()) == len(mirror_ids)
        pending = service.mirror.rows("SELECT * FROM pending_vectors WHERE namespace_id=?", (record.id,))
        assert pending == []


def test_ingest_then_search_finds_the_passage(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    report = service.ingest()
    totals = report.totals()
    assert totals["added"] == 3 and totals["failed"] == 0
    hits = service.search("pelican colony nests lagoon", top_k=3).hits
    assert hits[0].path == "README.md"
    assert "pelican" in hits[0].text
    assert hits[0].namespace == "org_acme:ws_platform:store_docs"
    assert hits[0].start_line >= 1 and hits[0].end_line >= hits[0].start_line
    assert_consistent(service)


def test_each_store_lands_in_its_own_namespace(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    code_hits = service.search("invoice total ledger balance", stores=["code"]).hits
    assert {h.store for h in code_hits} == {"code"}
    assert {h.path for h in code_hits} == {"src/app.py"}
    names = {r.namespace_name for r in service.namespace_records("store")}
    assert names == {"org_acme:ws_platform:store_docs", "org_acme:ws_platform:store_code"}


def test_reingest_without_changes_embeds_nothing(repo, service_factory, hash_embedder):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    embedded = hash_embedder.texts_embedded
    report = service.ingest()
    assert hash_embedder.texts_embedded == embedded
    assert report.totals()["unchanged"] == 3
    # A touched but unchanged file is hashed, not embedded.
    os.utime(repo / "README.md", ns=(time.time_ns(), time.time_ns() + 10**9))
    report = service.ingest()
    assert hash_embedder.texts_embedded == embedded
    assert report.totals()["changed"] == 0


def test_edit_replaces_old_chunks(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    write_files(repo, {"README.md": "# Lightfast\n\nThe albatross glides over the southern ocean.\n"})
    report = service.ingest()
    assert report.totals()["changed"] == 1
    hits = service.search("albatross southern ocean", stores=["docs"]).hits
    assert hits[0].path == "README.md" and "albatross" in hits[0].text
    texts = " ".join(h.text for h in service.search("pelican colony", stores=["docs"], top_k=20).hits)
    assert "pelican" not in texts
    assert_consistent(service)


def test_deleted_file_loses_its_vectors(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    (repo / "guide" / "setup.md").unlink()
    report = service.ingest()
    assert report.totals()["removed"] == 1
    paths = {h.path for h in service.search("install ingest command", stores=["docs"], top_k=20).hits}
    assert "guide/setup.md" not in paths
    assert_consistent(service)


def test_full_reingest_converges_to_the_same_ids(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    before = {r.namespace_name: index_ids(service, r.namespace_name) for r in service.namespace_records("store")}
    service.ingest(full=True)
    after = {r.namespace_name: index_ids(service, r.namespace_name) for r in service.namespace_records("store")}
    assert before == after
    assert_consistent(service)


def test_secrets_and_binaries_are_not_ingested(repo, service_factory):
    write_files(repo, {
        **DOCS,
        ".env": "PINECONE_API_KEY=pcsk_abcdefghijklmnopqrstuvwxyz0123\n",
        "config/.env.production": "SECRET=1\n",
        "keys/id_rsa": "not even read\n",
        "keys/server.pem": "nope\n",
        "notes/leak.md": "# Notes\n\nkey: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
        "notes/aws.md": "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
        "notes/binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
        "notes/latin1.md": "caf\xe9 au lait".encode("latin-1"),
    })
    service = service_factory(repo, stores="""
      - slug: all
        include: ["**/*"]
    """)
    report = service.ingest()
    skipped = dict(report.stores[0].skipped)
    assert skipped[".env"] == "secret by name"
    assert skipped["config/.env.production"] == "secret by name"
    assert skipped["keys/id_rsa"] == "secret by name"
    assert skipped["keys/server.pem"] == "secret by name"
    assert "private key" in skipped["notes/leak.md"]
    assert "AWS" in skipped["notes/aws.md"]
    assert skipped["notes/binary.md"] == "binary file"
    assert "UTF-8" in skipped["notes/latin1.md"]
    record = service.namespace_records("store")[0]
    docs = set(service.mirror.documents(record.id))
    assert docs == {"README.md", "guide/setup.md", "src/app.py", "lightfast.yml"}
    for hit in service.search("PRIVATE KEY AKIAIOSFODNN7EXAMPLE pcsk", top_k=20).hits:
        assert "PRIVATE KEY" not in hit.text and "AKIA" not in hit.text and "pcsk_" not in hit.text


def test_a_file_that_becomes_a_secret_is_removed(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    write_files(repo, {"guide/setup.md": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB\n"})
    service.ingest()
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    assert "guide/setup.md" not in service.mirror.documents(record.id)
    assert_consistent(service)


def test_gitignore_semantics(repo, service_factory):
    write_files(repo, {
        ".gitignore": "*.log.md\nbuild/\n/top-only.md\n",
        "a.md": "# A\nalpha\n",
        "top-only.md": "ignored at the top\n",
        "sub/top-only.md": "kept below the top\n",
        "debug.log.md": "ignored\n",
        "build/out.md": "ignored dir\n",
        "docs/.gitignore": "*.md\n!keep.md\n",
        "docs/drop.md": "ignored by nested file\n",
        "docs/keep.md": "re-included by negation\n",
        "node_modules/pkg/readme.md": "never\n",
    })
    service = service_factory(repo)
    service.ingest(["docs"])
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    assert set(service.mirror.documents(record.id)) == {"a.md", "sub/top-only.md", "docs/keep.md"}


def test_paths_limit_the_ingest(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    write_files(repo, {"README.md": "# New\n\nzebra stripes\n", "guide/setup.md": "# Setup\n\ngiraffe neck\n"})
    report = service.ingest(paths=["README.md"])
    assert report.totals()["changed"] == 1
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    docs = service.mirror.documents(record.id)
    assert docs["guide/setup.md"]["size"] != (repo / "guide/setup.md").stat().st_size


def test_model_mismatch_is_a_clear_error(repo, service_factory, lightfast_home):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    from core.config import load_config
    from core.service import Lightfast

    text = (repo / "lightfast.yml").read_text().replace("dimension: 64", "dimension: 32")
    (repo / "lightfast.yml").write_text(text)
    other = Lightfast(load_config(repo / "lightfast.yml"), lightfast_home)
    with pytest.raises(DimensionMismatchError, match="64-d.*32-d"):
        other.search("pelican")
    with pytest.raises(DimensionMismatchError):
        other.ensure_namespace("docs")


def test_ensure_namespace_is_idempotent_and_refuses_a_taken_name(repo, service_factory):
    service = service_factory(repo)
    first = service.ensure_namespace("docs")
    assert service.ensure_namespace("docs") == first
    from core.config import StoreConfig

    # "do-cs" sanitizes to the same name as "docs": never a shared namespace.
    with pytest.raises(NamingError, match="already uses"):
        ensure_namespace(service.mirror, service.backend, service.profile, "test", "acme", "platform",
                         StoreConfig(slug="do-cs"))


RACE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from conftest import HashEmbedder
    from core.config import load_config
    from core.service import Lightfast
    s = Lightfast(load_config({config!r}), embedder=HashEmbedder())
    print(s.ensure_namespace("docs").id)
""")


def test_ensure_namespace_raced_from_two_processes(repo, service_factory, lightfast_home):
    config = make_config(repo)
    script = RACE.format(tests=str(Path(__file__).parent), config=str(config))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "LIGHTFAST_HOME": str(lightfast_home)})
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    service = service_factory(repo)
    assert len(service.mirror.namespaces()) == 1


KILLED = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from conftest import HashEmbedder
    class Marked(HashEmbedder):
        batch_size = 4
        def embed_batch(self, texts, kind):
            print(f"batch {{self.calls + 1}}", flush=True)  # a parent may SIGKILL on this line
            return super().embed_batch(texts, kind)
    from core.config import load_config
    from core.service import Lightfast
    Lightfast(load_config({config!r}), embedder=Marked()).ingest(full={full})
""")


def kill_at_batch(script: str, env: dict, batch: int) -> None:
    """Run the KILLED script and SIGKILL it as it starts embedder batch `batch` (or let it end)."""
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.strip() == f"batch {batch}":
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


@pytest.mark.parametrize("batch", [1, 20, 55])  # of the 60 batches a first ingest embeds
def test_reingest_after_kill_converges(repo, service_factory, lightfast_home, batch):
    files = {f"docs/page{i:03}.md": f"# Page {i}\n\n" + "\n\n".join(
        f"Paragraph {j} of page {i} talks about topic{i}x{j} and more words here." for j in range(12))
        for i in range(60)}
    write_files(repo, files)
    config = make_config(repo)
    env = {**os.environ, "LIGHTFAST_HOME": str(lightfast_home)}
    for full in (False, True):
        kill_at_batch(KILLED.format(tests=str(Path(__file__).parent), config=str(config), full=full), env, batch)
        # Change the repo between runs, so the killed run's journal matters.
        write_files(repo, {"docs/page000.md": f"# Page zero\n\nrewritten {full} {batch}\n"})
        (repo / f"docs/page{59 - int(full):03}.md").unlink(missing_ok=True)
    service = service_factory(repo)
    service.ingest()
    assert_consistent(service)
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    on_disk = {p.relative_to(repo).as_posix() for p in (repo / "docs").glob("*.md")}
    assert set(service.mirror.documents(record.id)) == on_disk


def test_search_and_read_never_leave_this_organization(repo, tmp_path, service_factory):
    from core.errors import NotFoundError

    other = tmp_path / "other-repo"
    other.mkdir()
    write_files(repo, {"a.md": "# A\n\nThe pelican colony nests on the lagoon.\n"})
    write_files(other, {"b.md": "# B\n\nThe pelican colony of another company.\n"})
    ours = service_factory(repo)
    theirs = service_factory(other, organization="beta")
    ours.ingest()
    theirs.ingest()
    for scope in ("store", "workspace", "organization"):
        hits = ours.search("pelican colony", scope=scope, top_k=20).hits
        assert hits and all(h.namespace.startswith("org_acme:") for h in hits), scope
    their_hit = theirs.search("pelican colony").hits[0]
    with pytest.raises(NotFoundError):
        ours.read_chunk(their_hit.vector_id)
    assert {r.record.organization_id for r in ours.namespaces()} == {"acme"}


def test_progress_follows_the_embedding(repo, service_factory, hash_embedder):
    """A run read before its first batch is full: the embed stage's total is every chunk,
    final from its first report; one report per embedder batch."""
    write_files(repo, {f"doc{i}.md": "\n\n".join(f"Paragraph {i}.{j} " + "word " * 40 for j in range(6))
                       for i in range(12)})
    svc = service_factory(repo)
    seen = []
    report = svc.ingest(["docs"], progress=seen.append)
    chunks = report.totals()["chunks_embedded"]
    embeds = [p for p in seen if p.stage == "embed"]
    assert chunks > 3 * hash_embedder.batch_size
    assert {p.total for p in embeds} == {chunks}  # the total never moves
    assert all(p.total_final and p.files_read == p.files_total == 12 for p in embeds)
    assert embeds[0].message == "12 files to embed"
    assert embeds[0].done == 0 and embeds[-1].done == chunks
    assert [p.done for p in embeds] == sorted(p.done for p in embeds)
    # the first report announces the total, then one per embedder call
    assert len(embeds) == 1 + hash_embedder.calls
    assert all(p.rate and p.eta_s is not None for p in embeds[1:])
    done = [p for p in seen if p.stage == "done"][-1]
    assert (done.done, done.total, done.vectors_written) == (chunks, chunks, chunks)
    # every embed report comes after every scan report: nothing is embedded before the total is known
    stages = [p.stage for p in seen]
    assert max(i for i, s in enumerate(stages) if s == "scan") < stages.index("embed")


def test_a_killed_run_is_marked_interrupted_by_the_next(repo, service_factory, lightfast_home):
    """The history never shows a dead run as 'running': the next writer marks it."""
    write_files(repo, {f"docs/page{i:02}.md": f"# Page {i}\n\n" + "words about things " * 60 for i in range(20)})
    config = make_config(repo)
    env = {**os.environ, "LIGHTFAST_HOME": str(lightfast_home)}
    kill_at_batch(KILLED.format(tests=str(Path(__file__).parent), config=str(config), full=False), env, 3)
    service = service_factory(repo)
    assert [r["status"] for r in service.mirror.rows("SELECT status FROM ingest_runs")] == ["running"]
    service.ingest()
    runs = service.mirror.rows("SELECT status, error FROM ingest_runs ORDER BY id")
    assert runs[0]["status"] == "interrupted" and "stopped before the run finished" in runs[0]["error"]
    assert {r["status"] for r in runs[1:]} == {"ok"}


def _chunks_of_each(n_files: int) -> dict[str, str]:
    return {f"doc{i:02}.md": "\n\n".join(f"Paragraph {i}.{j} " + "word " * 40 for j in range(6))
            for i in range(n_files)}


def test_embedding_starts_while_files_are_read_and_progress_stays_true(repo, service_factory, monkeypatch):
    """A run bigger than a batch embeds before every file is read: until the reader is done
    the embed total is the chunks found so far (growing, never below what is embedded, no ETA,
    marked not final); the last reports and "done" carry the true total."""
    import threading

    import core.ingest as ingest

    monkeypatch.setattr(ingest, "BATCH_CHUNKS", 16)
    write_files(repo, _chunks_of_each(12))
    first_embed = threading.Event()
    read_found = ingest.read_found

    def held_read(file):  # the reader waits at the 6th file until the first batch is embedding
        if file.path == "doc05.md":
            assert first_embed.wait(120), "the first batch never started while files were still read"
        return read_found(file)

    monkeypatch.setattr(ingest, "read_found", held_read)
    seen = []

    def progress(p):
        seen.append(p)
        if p.stage == "embed":
            first_embed.set()

    svc = service_factory(repo)
    report = svc.ingest(["docs"], progress=progress)
    chunks = report.totals()["chunks_embedded"]
    assert report.totals()["added"] == 12
    embeds = [p for p in seen if p.stage == "embed"]
    growing = [p for p in embeds if not p.total_final]
    assert growing and growing[0] is embeds[0]  # embedding began before reading ended
    assert embeds[0].message.startswith("embedding while reading files")
    assert all(p.files_read < p.files_total == 12 and p.eta_s is None for p in growing[:1])
    assert all(p.total < chunks and p.eta_s is None for p in growing)
    assert all(p.done <= p.total for p in embeds)
    assert [p.total for p in embeds] == sorted(p.total for p in embeds)  # never shrinks
    assert [p.done for p in embeds] == sorted(p.done for p in embeds)
    final = [p for p in embeds if p.total_final]
    assert final and all(p.total == chunks and p.files_read == 12 for p in final)
    assert final[-1].done == chunks
    done = [p for p in seen if p.stage == "done"][-1]
    assert (done.done, done.total, done.vectors_written) == (chunks, chunks, chunks) and done.total_final
    assert_consistent(svc)


def test_files_are_read_on_the_reader_thread_which_closes_its_connection(repo, service_factory, monkeypatch):
    """Reading and a touched file's new stat happen on the reader thread, which closes its SQLite
    connection; the stat it wrote keeps the next run on the fast path."""
    import threading

    import core.ingest as ingest

    write_files(repo, _chunks_of_each(3))
    svc = service_factory(repo)
    svc.ingest(["docs"])
    touched = repo / "doc01.md"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 5_000_000_000))
    readers, closed = [], []
    read_found = ingest.read_found
    monkeypatch.setattr(ingest, "read_found",
                        lambda f: (readers.append(threading.current_thread().name), read_found(f))[1])
    close = type(svc.mirror).close
    monkeypatch.setattr(type(svc.mirror), "close",
                        lambda self: (closed.append(threading.current_thread().name), close(self))[1])
    report = svc.ingest(["docs"])
    assert readers == ["lightfast-reader"]
    assert "lightfast-reader" in closed
    assert report.totals()["unchanged"] == 3 and report.totals()["chunks_embedded"] == 0
    readers.clear()
    assert svc.ingest(["docs"]).totals()["unchanged"] == 3
    assert readers == []  # the new stat was stored: nothing read


def test_an_error_while_reading_reaches_the_caller_and_a_rerun_converges(repo, service_factory, monkeypatch):
    """A bug in the reader (here the chunker) is raised by ingest itself; batches embedded
    before it are written whole, and the next run ingests the rest."""
    import core.ingest as ingest

    monkeypatch.setattr(ingest, "BATCH_CHUNKS", 16)
    write_files(repo, _chunks_of_each(12))
    chunk_text = ingest.chunk_text

    def broken(text, path, *args):
        if path == "doc09.md":
            raise RuntimeError("chunker broke on doc09.md")
        return chunk_text(text, path, *args)

    monkeypatch.setattr(ingest, "chunk_text", broken)
    svc = service_factory(repo)
    with pytest.raises(RuntimeError, match="chunker broke on doc09.md"):
        svc.ingest(["docs"])
    assert_consistent(svc)
    monkeypatch.setattr(ingest, "chunk_text", chunk_text)
    report = svc.ingest(["docs"])
    assert report.totals()["added"] + report.totals()["unchanged"] == 12
    assert report.totals()["failed"] == 0
    assert_consistent(svc)
    runs = svc.mirror.rows("SELECT status FROM ingest_runs ORDER BY id")
    assert [r["status"] for r in runs][-2:] == ["failed", "ok"]
