"""`lightfast check`: the design's alerts, as checks a scheduler can act on (exit non-zero).

- namespace usage: namespaces per index against `limits.namespace_limit` x
  `limits.alert_threshold` (the mirror's records of this environment, and the
  index's own listing when asked, which also holds other organizations');
- query latency: p95 per namespace over the last `check.window_hours` against
  `check.latency_budget_ms`, and against the namespace's own previous window
  times `check.degradation_factor` (the design's degradation alert); a window
  with fewer than `check.min_queries` queries is not judged;
- ingests: the last run of each store of this organization that failed or was
  interrupted (a run still 'running' while no process holds the writer lock
  was killed);
- mirror-index divergence: per namespace, the vectors the mirror lists against the
  index's own count (core/doctor.py, counts only; `lightfast doctor` compares ids and
  repairs). Pinecone's counts lag its writes, so right after an ingest it may differ;
- the isolation canary (core/isolation.py), unless `check.canary` is off.

Each check gives findings; one that crosses a threshold is an alert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.errors import LockedError


@dataclass
class Finding:
    check: str  # namespaces | latency | ingest | divergence | isolation
    subject: str  # an index, a namespace, a store
    ok: bool
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # checks not run, and why

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def alerts(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "alerts": len(self.alerts), "findings": [asdict(f) for f in self.findings],
                "skipped": self.skipped}


def _iso(moment: datetime) -> str:
    """The query log's own timestamp form (core.mirror.utcnow), so text order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def check_namespaces(service, with_backend: bool) -> list[Finding]:
    limits = service.config.limits
    threshold = limits.alert_threshold * limits.namespace_limit
    counts: dict[str, int] = {}
    for record in service.mirror.namespaces(service.environment):
        counts[record.index_name] = counts.get(record.index_name, 0) + 1
    index_name = service.profile.name
    listed = None
    if with_backend and service.backend.index_exists(index_name):
        listed = len(service.index.list_namespaces())  # every organization's, as the plan counts them
    out = []
    for name in sorted(set(counts) | ({index_name} if listed is not None else set())):
        used = max(counts.get(name, 0), listed if name == index_name and listed is not None else 0)
        share = used / limits.namespace_limit
        ok = used < threshold
        message = (f"index {name} holds {used:,} namespaces, {share:.1%} of the limit of "
                   f"{limits.namespace_limit:,} (alert at {limits.alert_threshold:.0%})")
        out.append(Finding("namespaces", name, ok, message,
                           {"namespaces": used, "mirror": counts.get(name, 0), "index": listed if name == index_name
                            else None, "namespace_limit": limits.namespace_limit, "used_share": round(share, 4)}))
    return out


def check_latency(service, now: datetime | None = None) -> list[Finding]:
    """p95 per namespace in the last window, against the budget and the previous window."""
    from core.stats import snapshot

    c = service.config.check
    now = now or datetime.now(timezone.utc)
    current, previous = now - timedelta(hours=c.window_hours), now - timedelta(hours=2 * c.window_hours)
    duck = snapshot(service.mirror, ("query_log",))
    try:
        rows = duck.execute(
            """
            SELECT namespace_name,
                   COUNT(*) FILTER (WHERE "at" >= ?) AS n,
                   quantile_cont(latency_ms, 0.95) FILTER (WHERE "at" >= ?) AS p95,
                   COUNT(*) FILTER (WHERE "at" < ?) AS prev_n,
                   quantile_cont(latency_ms, 0.95) FILTER (WHERE "at" < ?) AS prev_p95
            FROM query_log WHERE environment = ? AND "at" >= ? AND "at" <= ?
            GROUP BY namespace_name ORDER BY namespace_name
            """,
            [_iso(current), _iso(current), _iso(current), _iso(current), service.environment,
             _iso(previous), _iso(now)]).fetchall()
    finally:
        duck.close()
    out = []
    for name, n, p95, prev_n, prev_p95 in rows:
        figures = {"queries": n, "p95_ms": _round(p95), "previous_queries": prev_n,
                   "previous_p95_ms": _round(prev_p95), "budget_ms": c.latency_budget_ms}
        if n < c.min_queries:
            out.append(Finding("latency", name, True, f"{name}: {n} queries in the last {c.window_hours:g} h, "
                               f"fewer than {c.min_queries}: not judged", figures))
            continue
        problems = []
        if p95 > c.latency_budget_ms:
            problems.append(f"p95 {p95:,.1f} ms is over the budget of {c.latency_budget_ms:,.0f} ms")
        if prev_n >= c.min_queries and prev_p95 and p95 > c.degradation_factor * prev_p95:
            problems.append(f"p95 {p95:,.1f} ms is {p95 / prev_p95:.1f}x the previous window's "
                            f"{prev_p95:,.1f} ms (alert at {c.degradation_factor:g}x)")
        message = f"{name}: " + ("; ".join(problems) if problems else
                                 f"p95 {p95:,.1f} ms over {n} queries, within budget")
        out.append(Finding("latency", name, not problems, message, figures))
    return out


def _round(value):
    return None if value is None else round(float(value), 3)


def check_ingests(service) -> list[Finding]:
    """The last run of each namespace of this organization; 'running' with the lock free was killed."""
    from core.locks import file_lock
    from core.paths import locks_dir

    try:
        with file_lock(locks_dir(service.home) / "ingest.lock", wait=0, what=f"data dir {service.home}"):
            writer_running = False
    except LockedError:
        writer_running = True
    out = []
    for record in service.namespace_records("organization"):
        last = service.mirror.last_ingest(record.id)
        if last is None:
            continue
        status = last.status
        if status == "running" and not writer_running:
            status = "interrupted"  # no process holds the lock: the run died
        subject = f"{record.workspace_id}/{record.store_slug}"
        figures = {"run": last.id, "status": status, "started_at": last.started_at,
                   "finished_at": last.finished_at, "error": last.error}
        if status in ("failed", "interrupted"):
            why = f": {last.error}" if last.error else ""
            out.append(Finding("ingest", subject, False,
                               f"store {subject}: the last ingest (run {last.id}, started "
                               f"{last.started_at[:19]}) {status}{why}; run `lightfast ingest` again", figures))
        else:
            out.append(Finding("ingest", subject, True, f"store {subject}: last ingest {status}", figures))
    return out


def check_divergence(service) -> list[Finding]:
    from core.doctor import check

    report = check(service, by_id=False)
    out = [Finding("divergence", what, False, f"{what}: {error} (run `lightfast doctor`)")
           for what, error in (("mirror", report.mirror_error), ("index", report.index_error)) if error]
    for ns in report.namespaces:
        if not ns.ok:
            out.append(Finding("divergence", ns.namespace, False,
                               f"{ns.namespace}: {ns.describe()} (run `lightfast doctor`)",
                               {"mirror_vectors": ns.mirror_vectors, "index_vectors": ns.index_vectors}))
    if not out:
        out.append(Finding("divergence", report.index, True,
                           f"{len(report.namespaces)} namespaces: the index holds what the mirror lists (counts)",
                           {"namespaces": len(report.namespaces)}))
    return out


def check_isolation(service) -> list[Finding]:
    from core.isolation import verify_isolation

    c = service.config.check
    report = verify_isolation(service, sample=c.canary_sample)
    figures = {"namespaces": len(report.namespaces), "queries": report.queries,
               "contaminations": report.contaminations, "unverified": report.unverified,
               "leftovers": report.leftovers}
    if report.ok:
        message = (f"{len(report.namespaces)} namespaces, {report.queries} queries: "
                   "no record seen outside its namespace")
    else:
        parts = report.contaminations[:3] + [f"{ns}: its own canary never came back" for ns in report.unverified[:3]]
        message = (f"{len(report.contaminations)} cross-namespace hits, {len(report.unverified)} unverified: "
                   + "; ".join(parts))
    return [Finding("isolation", service.profile.name, report.ok, message, figures)]


def run_checks(service, *, canary: bool | None = None, with_backend: bool = True,
               now: datetime | None = None) -> CheckReport:
    """Every check; canary None: as `check.canary` says."""
    report = CheckReport()
    report.findings += check_namespaces(service, with_backend)
    report.findings += check_latency(service, now)
    report.findings += check_ingests(service)
    if with_backend:
        report.findings += check_divergence(service)
    else:
        report.skipped.append("divergence: --no-backend (the index is not asked)")
    run_canary = service.config.check.canary if canary is None else canary
    if run_canary and service.namespace_records("organization"):
        report.findings += check_isolation(service)
    elif run_canary:
        report.skipped.append("isolation: no namespace to check yet")
    else:
        report.skipped.append("isolation: the canary is off (check.canary or --no-canary)")
    return report
