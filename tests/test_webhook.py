"""`lightfast webhook`: signed GitHub push events over real HTTP, into a real clone of a bare "remote".

A developer's working copy pushes to the bare remote; the webhook's clone (the lightfast repo) is
fetched and moved to the pushed commit, then what changed is ingested. Servers run in a thread
(deliveries awaited on an event the worker sets) or as a child process (awaited on the lines it
prints); no test sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_config, write_files
from core.errors import WebhookError
from lightfast_cli.main import cli

SECRET = "whsec-test-7d1c0ffee5a1b2c3"
WAIT_S = 120  # an upper bound for a hung server, never a pause


def git(root, *args) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, env=env,
                          check=True).stdout.decode().strip()


def push(dev, message: str, *, force: bool = False) -> tuple[str, str]:
    """Commit everything in the developer's copy and push main; returns (before, after) as GitHub sends."""
    before = git(dev, "ls-remote", "origin", "refs/heads/main").split()[0]
    git(dev, "add", "-A")
    git(dev, "commit", "-q", "-m", message)
    git(dev, "push", "-q", *(["--force"] if force else []), "origin", "main")
    return before, git(dev, "rev-parse", "HEAD")


def payload(before: str, after: str, *, full_name="acme/api", ref="refs/heads/main", forced=False) -> bytes:
    return json.dumps({"ref": ref, "before": before, "after": after, "forced": forced, "deleted": False,
                       "repository": {"full_name": full_name, "clone_url": f"https://github.com/{full_name}.git"},
                       "commits": []}).encode()


def post(url: str, body: bytes, *, secret: str | None = SECRET, delivery: str | None = None,
         event: str = "push", signature: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if signature is None and secret is not None:  # computed here, independently of core.webhook
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def world(tmp_path, service_factory, hash_embedder):
    """A bare remote, a developer's copy that pushes to it, and the webhook's clone with a lightfast.yml."""
    remote, dev, clone = tmp_path / "remote.git", tmp_path / "dev", tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(dev)], check=True, capture_output=True)
    git(dev, "checkout", "-q", "-b", "main")
    write_files(dev, {f"docs/page{i}.md": f"# Page {i}\n\npage {i} talks about topic{i}\n" for i in range(6)})
    write_files(dev, {"docs/heron.md": "# Heron\n\nthe grey heron waits by the river\n"})
    git(dev, "add", "-A")
    git(dev, "commit", "-q", "-m", "base")
    git(dev, "push", "-q", "origin", "main")
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
    make_config(clone)  # untracked in the clone: git leaves it alone
    service = service_factory(clone)
    service.ingest()
    record = service.connect_repository("acme/api")
    return {"remote": remote, "dev": dev, "clone": clone, "service": service, "record": record}


@pytest.fixture
def served(world, lightfast_home, hash_embedder):
    """The webhook in this process's threads; `wait(delivery)` returns that delivery's outcome."""
    from core.config import load_config
    from core.service import Lightfast

    outcomes: dict[str, queue.Queue] = {}
    lock = threading.Lock()

    def box(delivery: str) -> queue.Queue:
        with lock:
            return outcomes.setdefault(delivery, queue.Queue())

    server = world["service"].webhook_server(
        SECRET.encode(), port=0, on_done=lambda o: box(o.delivery).put(o),
        open_service=lambda path: Lightfast(load_config(path), lightfast_home, embedder=hash_embedder))
    with server:
        yield server, lambda delivery: box(delivery).get(timeout=WAIT_S)


def documents(service) -> dict[str, dict]:
    record = service.namespace_records("store", ["docs"])[0]
    return service.mirror.documents(record.id)


def test_a_normal_push_is_fetched_fast_forwarded_and_ingested(world, served):
    server, wait = served
    dev, clone, service = world["dev"], world["clone"], world["service"]
    (dev / "docs/heron.md").write_text("# Heron\n\nthe grey heron now fishes at dawn\n")
    write_files(dev, {"docs/pelican.md": "# Pelican\n\na pelican colony on the lagoon\n"})
    before, after = push(dev, "edit and add")
    status, answer = post(server.url, payload(before, after), delivery="d-normal")
    assert (status, answer["status"]) == (202, "queued")
    outcome = wait("d-normal")
    assert outcome.status == "ok", outcome.detail
    assert outcome.moved == "fast-forward" and outcome.since == before
    assert git(clone, "rev-parse", "HEAD") == after
    assert outcome.totals["added"] == 1 and outcome.totals["changed"] == 1
    assert service.search("pelican colony lagoon", stores=["docs"], top_k=1).hits[0].path == "docs/pelican.md"
    assert service.connected_repositories()[0].last_sha == after
    assert service.mirror.delivery("d-normal")["status"] == "ok"


def test_a_push_that_deletes_files(world, served):
    server, wait = served
    dev, service = world["dev"], world["service"]
    for i in range(5):  # most of the store: the removal guard would refuse a plain ingest
        (dev / f"docs/page{i}.md").unlink()
    before, after = push(dev, "delete most pages")
    assert post(server.url, payload(before, after), delivery="d-delete")[0] == 202
    outcome = wait("d-delete")
    assert outcome.status == "ok", outcome.detail
    assert outcome.totals["removed"] == 5
    assert set(documents(service)) == {"docs/page5.md", "docs/heron.md"}
    assert not (world["clone"] / "docs/page0.md").exists()


def test_a_force_push_resets_the_clone_and_ingests_the_tree_difference(world, served):
    server, wait = served
    dev, clone, service = world["dev"], world["clone"], world["service"]
    write_files(dev, {"docs/mistake.md": "# Mistake\n\na secretless blunder about walruses\n"})
    before, first = push(dev, "mistake")
    assert post(server.url, payload(before, first), delivery="d-first")[0] == 202
    assert wait("d-first").status == "ok"
    assert "docs/mistake.md" in documents(service)
    # Rewrite history: drop the commit, make another, force-push.
    git(dev, "reset", "-q", "--hard", "HEAD~1")
    write_files(dev, {"docs/fixed.md": "# Fixed\n\nthe right page about otters\n"})
    _, after = push(dev, "the right change", force=True)
    assert post(server.url, payload(first, after, forced=True), delivery="d-force")[0] == 202
    outcome = wait("d-force")
    assert outcome.status == "ok", outcome.detail
    assert outcome.moved == "reset" and outcome.since == first
    assert git(clone, "rev-parse", "HEAD") == after
    docs = documents(service)
    assert "docs/fixed.md" in docs and "docs/mistake.md" not in docs
    assert not (clone / "docs/mistake.md").exists()


def test_bad_or_missing_signatures_get_401_and_change_nothing(world, served):
    server, wait = served
    dev, clone, service = world["dev"], world["clone"], world["service"]
    write_files(dev, {"docs/x.md": "# X\n"})
    before, after = push(dev, "x")
    body = payload(before, after)
    head = git(clone, "rev-parse", "HEAD")
    wrong = "sha256=" + hmac.new(b"another secret", body, hashlib.sha256).hexdigest()
    for signature, secret in ((wrong, None), ("sha256=", None), ("sha1=abc", None), (None, None)):
        status, answer = post(server.url, body, secret=secret, signature=signature, delivery="d-bad")
        assert status == 401 and "X-Hub-Signature-256" in answer["error"]
    tampered = body.replace(b"acme/api", b"acme/apx")
    good_for_other_body = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post(server.url, tampered, signature=good_for_other_body)[0] == 401
    assert service.mirror.delivery("d-bad") is None  # not even remembered
    assert git(clone, "rev-parse", "HEAD") == head


def test_a_replayed_delivery_is_ignored(world, served):
    server, wait = served
    dev, service = world["dev"], world["service"]
    write_files(dev, {"docs/once.md": "# Once\n\ningested once\n"})
    before, after = push(dev, "once")
    body = payload(before, after)
    assert post(server.url, body, delivery="d-replay")[0] == 202
    assert wait("d-replay").status == "ok"
    runs = len(service.mirror.rows("SELECT id FROM ingest_runs"))
    status, answer = post(server.url, body, delivery="d-replay")
    assert (status, answer["status"]) == (200, "replay ignored")
    # A new delivery of the same push is processed, and finds nothing left to do: this proves
    # the worker is idle and the replay queued nothing.
    assert post(server.url, body, delivery="d-after")[0] == 202
    assert "already ingested" in wait("d-after").detail
    assert len(service.mirror.rows("SELECT id FROM ingest_runs")) == runs


def test_unknown_repositories_other_branches_and_events(world, served):
    server, wait = served
    dev = world["dev"]
    write_files(dev, {"docs/y.md": "# Y\n"})
    before, after = push(dev, "y")
    status, answer = post(server.url, payload(before, after, full_name="acme/other"))
    assert status == 404 and "lightfast webhook connect acme/other" in answer["error"]
    assert post(server.url, payload(before, after, ref="refs/heads/feature"), delivery="d-branch")[0] == 202
    outcome = wait("d-branch")
    assert outcome.status == "ignored" and "refs/heads/feature" in outcome.detail
    assert post(server.url, b"{}", event="ping")[1] == {"status": "pong"}
    assert post(server.url, b"not json", delivery="d-junk")[0] == 400


def test_a_dirty_clone_is_refused_not_overwritten(world, served):
    server, wait = served
    dev, clone = world["dev"], world["clone"]
    (clone / "docs/heron.md").write_text("# Heron\n\nlocal edit\n")
    write_files(dev, {"docs/z.md": "# Z\n"})
    before, after = push(dev, "z")
    assert post(server.url, payload(before, after), delivery="d-dirty")[0] == 202
    outcome = wait("d-dirty")
    assert outcome.status == "failed" and "uncommitted changes" in outcome.detail
    assert (clone / "docs/heron.md").read_text() == "# Heron\n\nlocal edit\n"
    # Fixed by hand, GitHub's redelivery of the failed delivery runs it again.
    git(clone, "checkout", "--", "docs/heron.md")
    assert post(server.url, payload(before, after), delivery="d-dirty")[0] == 202
    assert wait("d-dirty").status == "ok"


def test_a_delivery_queued_when_the_webhook_died_can_be_redelivered(world, lightfast_home, hash_embedder):
    from core.config import load_config
    from core.service import Lightfast

    dev, service = world["dev"], world["service"]
    write_files(dev, {"docs/late.md": "# Late\n\nqueued before a kill\n"})
    before, after = push(dev, "late")
    assert service.mirror.claim_delivery("d-killed", "acme/api")  # as a killed server left it
    done: queue.Queue = queue.Queue()
    server = service.webhook_server(
        SECRET.encode(), port=0, on_done=done.put,
        open_service=lambda path: Lightfast(load_config(path), lightfast_home, embedder=hash_embedder))
    assert service.mirror.delivery("d-killed")["status"] == "failed"
    with server:
        assert post(server.url, payload(before, after), delivery="d-killed")[0] == 202
        assert done.get(timeout=WAIT_S).status == "ok"
    assert "docs/late.md" in documents(service)


def test_refuses_to_start_without_a_secret(world, monkeypatch):
    monkeypatch.delenv("LIGHTFAST_WEBHOOK_SECRET", raising=False)
    monkeypatch.chdir(world["clone"])
    result = CliRunner().invoke(cli, ["webhook", "serve", "--port", "0"])
    assert result.exit_code == 2 and "LIGHTFAST_WEBHOOK_SECRET is not set" in result.output
    with pytest.raises(WebhookError):
        world["service"].webhook_server(b"", port=0)


def test_the_cli_server_in_a_child_process(tmp_path, world):
    """`lightfast webhook serve` for real: readiness and each delivery read from its stderr lines.
    The clone's config uses the real local model (a child process cannot take the test embedder)."""
    clone, dev = world["clone"], world["dev"]
    (clone / "lightfast.yml").write_text(
        "organization: acme\nworkspace: api\nstores:\n  - slug: docs\n    include: ['**/*.md']\n")
    home = tmp_path / "child-home"
    env = {**os.environ, "LIGHTFAST_HOME": str(home), "LIGHTFAST_WEBHOOK_SECRET": SECRET, "COLUMNS": "80",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run(["lightfast", "ingest", "-q"], cwd=clone, env=env, check=True, capture_output=True, timeout=600)
    subprocess.run(["lightfast", "webhook", "connect", "acme/api"], cwd=clone, env=env, check=True,
                   capture_output=True, timeout=120)
    child = subprocess.Popen(["lightfast", "webhook", "serve", "--port", "0"], cwd=clone, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(l) for l in child.stderr] + [lines.put(None)], daemon=True).start()

    def until(marker: str) -> str:
        while True:
            line = lines.get(timeout=WAIT_S)
            assert line is not None, f"the server exited before {marker!r}: {seen}"
            seen.append(line)
            if marker in line:
                return line

    try:
        ready = until("listening on ")
        url = ready.split("listening on ", 1)[1].split()[0]
        write_files(dev, {"docs/kingfisher.md": "# Kingfisher\n\na kingfisher dives for minnows\n"})
        before, after = push(dev, "kingfisher")
        assert post(url, payload(before, after), secret="wrong secret")[0] == 401
        assert post(url, payload(before, after), delivery="child-1")[0] == 202
        done = until("delivery child-1")
        assert "acme/api: ok: fast-forward" in done and "1 added" in done
        assert post(url, payload(before, after), delivery="child-1")[1]["status"] == "replay ignored"
        child.send_signal(signal.SIGTERM)
        until("lightfast webhook stopped")
        assert child.wait(timeout=WAIT_S) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    found = subprocess.run(["lightfast", "search", "kingfisher minnows", "--json"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=600)
    assert json.loads(found.stdout)["hits"][0]["path"] == "docs/kingfisher.md"
    # The secret is in no line the server printed and nowhere in the data dir.
    assert not any(SECRET in line for line in seen)
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_git_errors_never_carry_a_remote_token(world):
    """A fetch from a URL with credentials fails: the error (and the delivery's detail) has no token."""
    from core.errors import GitError
    from core.git_changes import git as run_git

    clone = world["clone"]
    token = "ghp_" + "x" * 36
    git(clone, "remote", "set-url", "origin", f"https://user:{token}@127.0.0.1:9/acme/api.git")
    with pytest.raises(GitError) as info:
        run_git(clone, "fetch", "--quiet", "origin")
    assert token not in str(info.value)
    # git strips it here itself; what git prints in other failures is redacted by us.
    from core.git_changes import redact

    said = redact(f"fatal: could not read from 'https://user:{token}@github.com/acme/api.git'")
    assert token not in said and "https://***@github.com/acme/api.git" in said
