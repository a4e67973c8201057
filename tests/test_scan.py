"""Repo scanning: default ignores, symlinks, size cap, secret detection."""

from __future__ import annotations

import os

import pytest

from conftest import write_files
from core.scan import FoundFile, decode_text, is_secret_name, secret_in_text, walk_repo


def scan(root, max_bytes=1000):
    found, skipped = {}, {}
    for item in walk_repo(root, max_bytes):
        (found if isinstance(item, FoundFile) else skipped)[item.path] = item
    return found, skipped


def test_walk_skips_default_dirs_and_big_files(repo):
    write_files(repo, {"a.md": "x", ".git/config": "x", "node_modules/m/a.md": "x",
                       ".venv/lib/a.py": "x", "big.md": "y" * 2000})
    found, skipped = scan(repo)
    assert set(found) == {"a.md"}
    assert "larger than" in skipped["big.md"].reason


def test_symlinks_out_of_the_repo_and_loops_are_refused(repo, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("secret outside")
    write_files(repo, {"in.md": "inside"})
    os.symlink(outside, repo / "link-out.md")
    os.symlink(repo / "in.md", repo / "link-in.md")
    os.symlink(repo, repo / "loop")  # a directory symlink: not followed
    os.symlink(repo / "self-a", repo / "self-b")
    os.symlink(repo / "self-b", repo / "self-a")
    found, skipped = scan(repo)
    assert set(found) == {"in.md", "link-in.md"}
    assert skipped["link-out.md"].reason == "symlink to outside the repo"
    assert "unreadable" in skipped["self-a"].reason


def test_secret_names():
    for name in (".env", ".env.local", "prod.env", "id_rsa", "id_ed25519.pub", "cert.pem", "tls.key", ".netrc"):
        assert is_secret_name(name), name
    for name in ("environment.md", "keys.md", "envelope.py", "README.md"):
        assert not is_secret_name(name), name


def test_secret_content_names_the_kind_and_line_but_not_the_value():
    token = "ghp_" + "a" * 36
    found = secret_in_text(f"first\nsecond {token}\n")
    assert found == "contains a GitHub token (line 2)"
    assert token not in found
    assert secret_in_text("just prose about keys and tokens") is None


def test_decode_text():
    assert decode_text(b"a\r\nb\rc") == ("a\nb\nc", None)
    assert decode_text(b"\x00\x01") == (None, "binary file")
    text, reason = decode_text(b"\xff\xfe bad")
    assert text is None and "UTF-8" in reason


# -- secrets by content: the formats issue #15 found indexed, and docs that must pass ----------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = {  # format: (file text, the secret value, the kind reported)
    "AWS secret key alone": (f"[default]\naws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET, "AWS secret access key"),
    "Slack webhook": ("notify:\n  url: https://hooks.slack.com/services/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\n",
                      "q7Rz8Lk2Wm9Xv4Tb1Nc6Yp3J", "Slack webhook URL"),
    "postgres URL password": ("DATABASE_URL=postgres://app:S3cr3tPa55w0rd@db.internal:5432/prod\n",
                              "S3cr3tPa55w0rd", "password in a URL"),
    "PuTTY key": ("PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 1\nAAAAgQCx9Yk3Lq9Zr2Wm8Xv5Tb1Nc\n",
                  "AAAAgQCx9Yk3Lq9Zr2Wm8Xv5Tb1Nc", "PuTTY private key"),
    "YAML password": ("db:\n  host: db.internal\n  password: 'q8Zr2Lp0Xv7Nw4Tb'\n", "q8Zr2Lp0Xv7Nw4Tb", "high-entropy"),
    ".env API key": ("DEBUG=1\nAPI_KEY=9f8e7d6c5b4a39281706f5e4d3c2b1a0\n", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "high-entropy"),
    "JSON client secret": ('{"client_id": "web", "client_secret": "Yk3Lq9Zr2Wm8Xv5Tb1Nc"}\n', "Yk3Lq9Zr2Wm8Xv5Tb1Nc",
                           "high-entropy"),
    "Python token": ('import os\nGITLAB_TOKEN = "glpat-Ab3dE6gH9jK2mN5pQ8sT"\n', "glpat-Ab3dE6gH9jK2mN5pQ8sT", "high-entropy"),
}


SECRET_LINES = {"AWS secret key alone": 2, "Slack webhook": 2, "postgres URL password": 1, "PuTTY key": 1,
                "YAML password": 3, ".env API key": 2, "JSON client secret": 1, "Python token": 2}


@pytest.mark.parametrize("case", list(SECRETS))
def test_secret_formats_are_found_by_kind_and_line_never_by_value(case):
    text, value, kind = SECRETS[case]
    found = secret_in_text(text)
    assert found is not None and kind in found, found
    assert found.endswith(f"(line {SECRET_LINES[case]})")
    assert value not in found


ORDINARY = [
    "def login(password: str, token: str) -> None:\n",
    "token = tokenize(x)\n",
    "api_key: <your-token>\n",
    "password: xxx\n",
    "SECRET=changeme\n",
    "password: ${DB_PASSWORD}\n",
    'SQLALCHEMY_DATABASE_URL = "postgresql://user:password@postgresserver/db"\n',
    'engine = create_engine("postgresql+psycopg://postgres:postgres@localhost/db")\n',
    "postgres://user:pass@host/db\n",
    "secret_name = my_service_secret_name\n",
    "ACCESS_TOKEN_EXPIRE_MINUTES = 30\n",
    'api_key = os.environ["API_KEY"]\n',
    "token: Annotated[str, Depends(oauth2_scheme)]\n",
    'oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")\n',
    "password_hash = PasswordHash.recommended()\n",
    "Set `api_key` to the value shown in your dashboard.\n",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_docs_are_not_secrets(text):
    assert secret_in_text(text) is None


def test_a_secret_file_is_skipped_and_search_never_returns_the_key(repo, service_factory):
    write_files(repo, {
        "docs/aws.md": f"# AWS setup\n\nPut this in ~/.aws/credentials:\n\naws_secret_access_key = {AWS_SECRET}\n",
        "docs/guide.md": "# Guide\n\nThe aws_secret_access_key setting lives in your credentials file.\n",
    })
    service = service_factory(repo)
    report = service.ingest(stores=["docs"])
    skipped = dict(report.stores[0].skipped)
    assert skipped["docs/aws.md"] == "secret: contains a AWS secret access key (line 5)"
    hits = service.search("aws_secret_access_key", stores=["docs"], top_k=10).hits
    assert [h.path for h in hits] == ["docs/guide.md"]
    assert all(AWS_SECRET not in h.text for h in hits)
    assert AWS_SECRET not in str(report.stores[0].skipped)


# -- one file check for plan and ingest; an iterative walk -------------------------------------------

def _vanishing_scan(service, repo, swap):
    """service.scan, then `swap(path)` on docs/b.md: the file changes between scan and read (mid-plan)."""
    real = service.scan

    def scan():
        found = real()
        swap(repo / "docs/b.md")
        return found

    service.scan = scan


@pytest.mark.parametrize("how", ["vanished", "unreadable"])
def test_a_file_gone_or_unreadable_mid_plan_is_a_reason_not_a_crash(repo, service_factory, how):
    from core.plan import plan_ingest

    def swap(path):
        path.unlink()
        if how == "unreadable":  # chmod 000 does not stop root; a directory in its place fails to read for anyone
            path.mkdir()

    write_files(repo, {"docs/a.md": "# A\n\nalpha\n", "docs/b.md": "# B\n\nbeta\n"})
    service = service_factory(repo)
    _vanishing_scan(service, repo, swap)
    plan = next(s for s in plan_ingest(service).stores if s.store == "docs")
    reason = dict(plan.skipped)["docs/b.md"]
    assert reason == ("unreadable: No such file or directory" if how == "vanished" else "unreadable: Is a directory")
    assert plan.files == 1

    if how == "vanished":  # ingest gives the same reason from the same check
        write_files(repo, {"docs/b.md": "# B\n\nbeta\n"})
    else:
        (repo / "docs/b.md").rmdir()
        write_files(repo, {"docs/b.md": "# B\n\nbeta\n"})
    report = service.ingest(stores=["docs"])
    assert dict(report.stores[0].failed) == {"docs/b.md": reason}
    assert report.stores[0].added == 1


def test_plan_and_ingest_skip_the_same_files_for_the_same_reasons(repo, service_factory):
    from core.plan import plan_ingest

    write_files(repo, {"docs/ok.md": "# OK\n\nfine\n", "docs/bin.md": b"# x\n\x00\x01",
                       "docs/latin1.md": b"caf\xe9\n", "docs/key.md": f"aws_secret_access_key = {AWS_SECRET}\n"})
    service = service_factory(repo)
    planned = dict(next(s for s in plan_ingest(service).stores if s.store == "docs").skipped)
    ingested = dict(service.ingest(stores=["docs"]).stores[0].skipped)
    assert planned == ingested and set(planned) == {"docs/bin.md", "docs/latin1.md", "docs/key.md"}


@pytest.fixture
def nest(repo):
    """nest(depth) makes repo/d/d/.../d; removed again without recursion, because pytest's own
    clean-up (shutil.rmtree) recurses and would fail on it, in this run and in later ones."""

    def make(depth: int):
        path = repo
        for _ in range(depth):
            path = path / "d"
            os.mkdir(path)  # one level at a time: os.makedirs itself recurses
        return path

    yield make
    from core.scan import walk_dirs

    dirs = []
    for current, _, filenames in walk_dirs(repo):
        dirs.append(current)
        for name in filenames:
            os.unlink(os.path.join(current, name))
    for current in reversed(dirs[1:]):
        if os.path.islink(current):
            os.unlink(current)
        else:
            os.rmdir(current)


def test_directories_nested_1000_deep(repo, service_factory, nest):
    from core.plan import plan_ingest

    bottom = nest(1000)
    write_files(bottom, {"deep.md": "# Deep\n\nthe bottom of the well\n", "skip.tmp.md": "# x\n", "weird\\name.md": "# w\n"})
    write_files(repo, {".gitignore": "*.tmp.md\n", "d/d/.gitignore": "weird*\n", "top.md": "# Top\n\nsurface\n"})
    rel = "d/" * 1000
    found, skipped = scan(repo)
    assert set(found) == {"top.md", rel + "deep.md"} and not skipped
    service = service_factory(repo)
    assert next(s for s in plan_ingest(service).stores if s.store == "docs").files == 2
    assert service.ingest(stores=["docs"]).totals()["added"] == 2
    assert service.search("bottom of the well", stores=["docs"], top_k=1).hits[0].path == rel + "deep.md"
    os.rename(bottom / "weird\\name.md", bottom / "odd\\name.md")  # no longer ignored; stored with \\ escaped
    found, _ = scan(repo)
    assert rel + "odd\\\\name.md" in found


def test_walk_dirs_is_os_walk_without_recursion(repo):
    from core.scan import walk_dirs

    write_files(repo, {"a/b/c.md": "x", "a/d.md": "x", "e/f.md": "x", "g.md": "x"})
    os.symlink(repo / "a", repo / "link")
    ours = [(os.path.relpath(d, repo), sorted(ds), sorted(fs)) for d, ds, fs in walk_dirs(repo)]
    theirs = [(os.path.relpath(d, repo), sorted(ds), sorted(fs)) for d, ds, fs in os.walk(repo)]
    assert sorted(ours) == sorted(theirs)


def test_a_nul_after_the_first_8_kb_is_binary(repo, service_factory):
    data = b"# looks like text\n" + b"plain words\n" * 1000 + b"\x00\x01\x02 binary tail"
    assert len(data.split(b"\x00")[0]) > 8192
    assert decode_text(data) == (None, "binary file")
    write_files(repo, {"late-nul.md": data, "ok.md": "# OK\n\nfine\n"})
    report = service_factory(repo).ingest(stores=["docs"])
    assert dict(report.stores[0].skipped) == {"late-nul.md": "binary file"}


def test_gitignore_lines_break_only_at_newlines(repo):
    # str.splitlines would cut "a\vb.md" into the patterns "a" and "b.md", ignoring b.md.
    write_files(repo, {".gitignore": "a\x0bb.md\r\nlog\u2028s.md\n", "b.md": "x", "s.md": "x", "a\x0bb.md": "x"})
    found, _ = scan(repo)
    assert set(found) == {"b.md", "s.md"}


def test_the_polling_watcher_follows_a_file_1000_directories_deep(repo, service_factory, nest):
    from core.watch import Watcher
    from test_watch import wait_for

    bottom = nest(1000)
    write_files(bottom, {"deep.md": "# Deep\n\nversion one\n"})
    rel = "d/" * 1000 + "deep.md"
    service = service_factory(repo)
    watcher = Watcher(service, debounce_ms=50, force_polling=True, poll_delay_ms=50).start()
    try:
        # A bound for failure, not a timing claim: 1,000 directories are slow to walk on a busy machine.
        wait_for(lambda: watcher.state.batches >= 1 and watcher.state.status == "idle", timeout=240, what="catch-up")
        record = service.namespace_records("store", ["docs"])[0]
        before = service.mirror.documents(record.id)[rel]["content_hash"]
        write_files(bottom, {"deep.md": "# Deep\n\nversion two\n"})
        wait_for(lambda: service.mirror.documents(record.id)[rel]["content_hash"] != before, timeout=240,
                 what="deep edit")
        assert watcher.state.last_error == ""
    finally:
        assert watcher.stop()
