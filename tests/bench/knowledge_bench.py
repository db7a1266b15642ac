#!/usr/bin/env python3
"""Knowledge benchmark (python3 stdlib, psql and build/kb-gen), used by
`auto-build.sh bench-knowledge` and runnable by hand against a stack:

  ingest DOCS_DIR            uploads every file of DOCS_DIR (kb-gen docs) to a
                             new knowledge base through the API, times from
                             the first upload to every document `ready`
                             (polling the documents table), and reports MB/s
                             (per worker process too) and chunks/s; then
                             deletes that base.
  search                     generates --chunks 1024-dimensional chunks of
                             --clusters topics (kb-gen chunks, embedded with
                             the workers' local embedder) straight into Postgres, in
                             one new knowledge base of ready documents;
                             rebuilds the HNSW index with the migration's own
                             definition (timed, sized); then the latency of
                             POST /api/v1/knowledge-bases/{id}/search
                             (sequential, one keep-alive connection, nginx's
                             `return 200` in turn as the yardstick) over
                             held-out queries, and recall@5 of the vector
                             half (the search statement's vector CTE with the
                             index at each --ef, against an exact scan).
  report DIR                 the summary table of a bench-knowledge run.

Common options: --base URL, --token T, --db CONNINFO (psql), --out FILE.
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit

from stream_bench import percentile  # noqa: E402 (beside this file)


class Api:
    def __init__(self, base, token):
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.token = token
        self.conn = None

    def call(self, method, path, body=None, ctype="application/json", auth=True):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        headers = {"Content-Type": ctype} if body is not None else {}
        if auth:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def json(self, method, path, body=None, want=(200, 201)):
        status, data = self.call(method, path, body)
        if status not in want:
            raise SystemExit("%s %s: %d %s" % (method, path, status, data[:300]))
        return json.loads(data) if data else None


class Psql:
    def __init__(self, conninfo):
        self.cmd = ["psql", conninfo, "-X", "-qAt", "-v", "ON_ERROR_STOP=1"]

    def run(self, sql, stdin=None):
        r = subprocess.run(self.cmd + ["-c", sql], input=stdin, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("psql: %s\n%s" % (sql[:200], r.stderr))
        return r.stdout.strip()

    def script(self, sql):
        r = subprocess.run(self.cmd, input=sql, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("psql script failed: %s" % r.stderr[:2000])
        return r.stdout


def descendants(pids):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += kids.get(p, [])
    return out


def proc_cpu(pids):
    """CPU seconds of the pids and their live descendants."""
    tck = os.sysconf("SC_CLK_TCK")
    t = 0
    for p in descendants(pids):
        try:
            with open("/proc/%d/stat" % p) as f:
                parts = f.read().rsplit(")", 1)[1].split()
            t += int(parts[11]) + int(parts[12])
        except (OSError, ValueError, IndexError):
            pass
    return t / tck


# ---------------------------------------------------------------------------
# ingestion
# ---------------------------------------------------------------------------

def cmd_ingest(args):
    api, db = Api(args.base, args.token), Psql(args.db)
    files = sorted(os.listdir(args.docs))
    kb = api.json("POST", "/api/v1/knowledge-bases", {"name": "bench ingest"})["id"]
    pids = [int(p) for p in args.worker_pids.split(",") if p] if args.worker_pids else []
    pg = [args.pg_pid] if args.pg_pid else []
    total = 0
    cpu0, pg0 = proc_cpu(pids), proc_cpu(pg)
    t0 = time.perf_counter()
    for name in files:
        with open(os.path.join(args.docs, name), "rb") as f:
            body = f.read()
        total += len(body)
        ctype = "text/markdown" if name.endswith(".md") else "text/plain"
        status, data = api.call("POST", "/api/v1/knowledge-bases/%s/documents?filename=%s" % (kb, name),
                                body, ctype)
        if status != 202:
            raise SystemExit("upload %s: %d %s" % (name, status, data[:300]))
    t_up = time.perf_counter() - t0
    q = ("SELECT count(*) FILTER (WHERE status = 'ready'), count(*) FILTER (WHERE status = 'failed'), "
         "count(*) FROM documents WHERE knowledge_base_id = '%s'" % kb)
    while True:
        ready, failed, n = (int(x) for x in db.run(q).split("|"))
        if ready + failed >= n:
            break
        if time.perf_counter() - t0 > args.timeout:
            raise SystemExit("ingest: %d of %d ready after %d s" % (ready, n, args.timeout))
        time.sleep(0.2)
    secs = time.perf_counter() - t0
    cpu, pgcpu = proc_cpu(pids) - cpu0, proc_cpu(pg) - pg0
    chunks = int(db.run("SELECT count(*) FROM knowledge_chunks WHERE knowledge_base_id = '%s'" % kb))
    api.json("DELETE", "/api/v1/knowledge-bases/%s" % kb, want=(204,))
    mb = total / 1e6
    res = {"test": "ingest", "documents": len(files), "mb": mb, "seconds": secs, "upload_seconds": t_up,
           "ready": ready, "failed": failed, "chunks": chunks, "procs": args.procs,
           "threads_per_proc": args.threads, "mb_per_s": mb / secs, "mb_per_s_per_proc": mb / secs / args.procs,
           "chunks_per_s": chunks / secs, "worker_cpu_s": cpu,
           "worker_cpu_s_per_mb": cpu / mb if pids else None,
           "postgres_cpu_s_per_mb": pgcpu / mb if pg else None}
    print("ingest: %d documents, %.1f MB, %d chunks, %d failed: %.1f s (uploads %.1f s): %.2f MB/s, "
          "%.2f MB/s per worker process (%d processes, %d ingest threads in all), %.0f chunks/s; "
          "CPU: workers %.1f s, Postgres %.1f s"
          % (len(files), mb, chunks, failed, secs, t_up, res["mb_per_s"], res["mb_per_s_per_proc"],
             args.procs, args.threads, res["chunks_per_s"], cpu, pgcpu))
    return res


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------

WORKER_DB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "worker", "db")
QUERIES_C = os.path.join(WORKER_DB, "queries.c")


def statement(name):
    """The statement MG_Q_<name> as the workers prepare it
    (worker/db/queries.c): the bench times the workers' own SQL, never a
    copy that could drift."""
    with open(QUERIES_C) as f:
        src = f.read()
    m = re.search(r'\[MG_Q_%s\] = \{ "[a-z_]+",((?:\s*"(?:[^"\\]|\\.)*")+)' % name, src)
    if m is None:
        raise SystemExit("MG_Q_%s not found in %s" % (name, QUERIES_C))
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))


def search_candidates():
    """MG_SEARCH_CANDIDATES: how many rows the workers ask each half for."""
    with open(os.path.join(WORKER_DB, "..", "knowledge", "search.h")) as f:
        m = re.search(r"#define MG_SEARCH_CANDIDATES\s+(\d+)", f.read())
    if m is None:
        raise SystemExit("MG_SEARCH_CANDIDATES not found in worker/knowledge/search.h")
    return int(m.group(1))


CANDIDATES = search_candidates()


def served_ef_search():
    """The hnsw.ef_search every worker connection sets (worker/db/db.c)."""
    with open(os.path.join(WORKER_DB, "db.c")) as f:
        m = re.search(r"hnsw\.ef_search=(\d+)", f.read())
    if m is None:
        raise SystemExit("hnsw.ef_search not found in worker/db/db.c")
    return int(m.group(1))


def renumber(stmt, mapping):
    """stmt with its parameters $n renamed by mapping, all at once."""
    return re.sub(r"\$(\d+)", lambda m: "$%d" % mapping[int(m.group(1))], stmt)


def prepared_search():
    """The search's two halves as the workers run them: s_vec, the vector
    half's 5 nearest ids (for recall), and s_txt, the full-text half.
    Both take (bases, query vector, query text, candidates), the limit a
    parameter as the workers pass it (it keeps the plans custom)."""
    return ("PREPARE s_vec(uuid[], vector, text, int) AS SELECT string_agg(id, ',') FROM "
            "(SELECT id FROM (%s) v(id, dist) ORDER BY dist, id LIMIT 5) s;\n"
            % renumber(statement("KB_SEARCH_VEC"), {1: 1, 2: 2, 3: 4})
            + "PREPARE s_txt(uuid[], vector, text, int) AS SELECT count(*) FROM (%s) t;\n"
            % renumber(statement("KB_SEARCH_TXT"), {1: 1, 2: 3, 3: 4, 4: 2}))


def execute(name, tag, kb, vec, text, quiet):
    """psql lines that print `tag|` and then run the prepared name; quiet
    sends its rows nowhere (the timing still shows)."""
    call = "EXECUTE %s('{%s}', '%s', %s, %d);\n" % (name, kb, vec, sql_literal(text), CANDIDATES)
    if quiet:
        return "\\echo %s|\n\\o /dev/null\n%s\\o\n" % (tag, call)
    return "\\echo -n %s|\n%s" % (tag, call)


def sql_literal(t):
    return "'" + t.replace("'", "''") + "'"


def vector_kind(args):
    return "local-embedder" if args.vectors == "local" else "synthetic (noise %.2f)" % args.noise


def load_corpus(args, api, db):
    kb = api.json("POST", "/api/v1/knowledge-bases", {"name": "bench search"})["id"]
    owner = db.run("SELECT owner_id FROM knowledge_bases WHERE id = '%s'" % kb)
    ndocs = (args.chunks + args.per_doc - 1) // args.per_doc
    db.run("INSERT INTO documents (id, knowledge_base_id, owner_id, filename, content_type, size_bytes, "
           "status, chunks_total, chunks_done) SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, "
           "'%s', '%s', 'bench-' || i || '.md', 'text/markdown', 0, 'ready', %d, %d "
           "FROM generate_series(0, %d) i" % (kb, owner.replace("'", "''"), args.per_doc, args.per_doc, ndocs - 1))
    idx = db.run("SELECT indexname || '|' || indexdef FROM pg_indexes WHERE tablename = 'knowledge_chunks' "
                 "AND indexname IN ('knowledge_chunks_embedding_idx', 'knowledge_chunks_tsv_idx') ORDER BY 1")
    defs = dict(line.split("|", 1) for line in idx.splitlines())
    if "knowledge_chunks_embedding_idx" not in defs:
        raise SystemExit("no knowledge_chunks_embedding_idx")
    # load without the indexes, then build them whole: what a restore does
    db.run("DROP INDEX knowledge_chunks_embedding_idx; DROP INDEX IF EXISTS knowledge_chunks_tsv_idx")
    t0 = time.perf_counter()
    gen = subprocess.Popen([args.gen, "chunks", str(args.chunks), kb, "--clusters", str(args.clusters),
                            "--per-doc", str(args.per_doc), "--vectors", args.vectors,
                            "--noise", str(args.noise)],
                           stdout=subprocess.PIPE)
    r = subprocess.run(db.cmd + ["-c", "COPY knowledge_chunks (knowledge_base_id, document_id, chunk_index, "
                                 "heading, text, embedding) FROM STDIN"], stdin=gen.stdout, capture_output=True,
                       text=True)
    gen.stdout.close()
    if gen.wait() != 0 or r.returncode != 0:
        raise SystemExit("loading the chunks failed: %s" % r.stderr[:1000])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    db.run("SET maintenance_work_mem = '%s'; %s" % (args.maintenance_work_mem,
                                                   defs["knowledge_chunks_embedding_idx"]))
    hnsw_s = time.perf_counter() - t0
    gin_s = None
    if "knowledge_chunks_tsv_idx" in defs:
        t0 = time.perf_counter()
        db.run("SET maintenance_work_mem = '%s'; %s" % (args.maintenance_work_mem, defs["knowledge_chunks_tsv_idx"]))
        gin_s = time.perf_counter() - t0
    db.run("VACUUM ANALYZE knowledge_chunks")
    db.run("ANALYZE documents")
    # the load's gigabytes of WAL would otherwise be written out by a
    # checkpoint during the latency measurement
    db.run("CHECKPOINT")
    size = int(db.run("SELECT pg_relation_size('knowledge_chunks_embedding_idx')"))
    table = int(db.run("SELECT pg_total_relation_size('knowledge_chunks')"))
    workers = db.run("SHOW max_parallel_maintenance_workers")
    print("search corpus: %d chunks x 1024 in %d documents, %d topics, %s vectors: loaded in %.1f s; "
          "HNSW (%s) built in %.1f s (maintenance_work_mem %s, up to %s parallel workers), %.1f MiB; "
          "GIN %.1f s; table with indexes and TOAST %.1f MiB"
          % (args.chunks, ndocs, args.clusters, vector_kind(args), load_s, defs["knowledge_chunks_embedding_idx"]
             .split(" WITH ")[-1] if " WITH " in defs["knowledge_chunks_embedding_idx"] else "default",
             hnsw_s, args.maintenance_work_mem, workers, size / 1048576.0, gin_s or 0, table / 1048576.0),
          file=sys.stderr)
    return kb, {"chunks": args.chunks, "documents": ndocs, "clusters": args.clusters, "vectors": vector_kind(args),
                "load_s": load_s, "hnsw_build_s": hnsw_s, "hnsw_bytes": size, "gin_build_s": gin_s,
                "table_bytes": table, "index_def": defs["knowledge_chunks_embedding_idx"],
                "maintenance_work_mem": args.maintenance_work_mem, "parallel_workers": workers}


def cmd_search(args):
    api, db = Api(args.base, args.token), Psql(args.db)
    kb, res = load_corpus(args, api, db)
    res["test"] = "search"
    res["kb"] = kb
    out = subprocess.run([args.gen, "queries", str(args.queries), "--clusters", str(args.clusters),
                          "--vectors", args.vectors, "--noise", str(args.noise)],
                         capture_output=True, text=True, check=True).stdout
    queries = [line.split("\t") for line in out.splitlines()]

    # latency through the API, nginx's return 200 in turn
    base = Api(args.base, args.token)
    lat, yard, empty = [], [], 0
    for i in range(args.warmup + len(queries)):
        text = queries[i % len(queries)][0]
        body = json.dumps({"query": text, "top_k": 5}).encode()
        t0 = time.perf_counter()
        status, data = api.call("POST", "/api/v1/knowledge-bases/%s/search" % kb, body)
        t1 = time.perf_counter()
        if status != 200:
            raise SystemExit("search: %d %s" % (status, data[:300]))
        t2 = time.perf_counter()
        status, _ = base.call("GET", "/__baseline", auth=False)
        t3 = time.perf_counter()
        if i >= args.warmup:
            lat.append((t1 - t0) * 1e3)
            yard.append((t3 - t2) * 1e3)
            if not json.loads(data)["items"]:
                empty += 1
    res["latency_ms"] = {"n": len(lat), "p50": percentile(lat, 50), "p95": percentile(lat, 95),
                         "p99": percentile(lat, 99), "empty": empty}
    res["baseline_ms"] = {"p50": percentile(yard, 50), "p95": percentile(yard, 95)}
    print("search API: %d queries, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (return 200: p50 %.3f ms); "
          "%d answers empty" % (len(lat), res["latency_ms"]["p50"], res["latency_ms"]["p95"],
                                res["latency_ms"]["p99"], res["baseline_ms"]["p50"], empty))

    # recall@5 of the vector half: the statement's vector CTE, with the index
    # at each ef_search (iterative scan as the workers set it), and exact
    served = served_ef_search()
    res["served_ef_search"] = served
    efs = sorted(set([int(e) for e in args.ef.split(",")] + [served]))
    # a first pass untimed (the index is larger than shared_buffers: the
    # first query to touch a page would pay for the others), then each
    # ef_search, and the full-text half, timed
    prep = prepared_search()
    sql = ["SET hnsw.iterative_scan = relaxed_order;\n", "SET hnsw.ef_search = %d;\n" % max(efs), prep]
    for j, (text, vec) in enumerate(queries):
        sql.append(execute("s_vec", "warm|0|%d" % j, kb, vec, text, False))
        sql.append(execute("s_txt", "warm|1|%d" % j, kb, vec, text, True))
    sql.append("\\timing on\n")
    for j, (text, vec) in enumerate(queries):
        # each ef_search first in turn: the first to run pays the query's
        # pages into shared_buffers
        for ef in efs[j % len(efs):] + efs[:j % len(efs)]:
            sql.append("SET hnsw.ef_search = %d;\n" % ef)
            sql.append(execute("s_vec", "idx|%d|%d" % (ef, j), kb, vec, text, False))
        sql.append(execute("s_txt", "text|0|%d" % j, kb, vec, text, True))
    sql.append("\\timing off\nSET enable_indexscan = off;\n")
    for j, (text, vec) in enumerate(queries):
        sql.append(execute("s_vec", "exact|0|%d" % j, kb, vec, text, False))
    first = "EXPLAIN (COSTS OFF) " + execute("s_vec", "x", kb, queries[0][1], queries[0][0], False).split("\n", 1)[1]
    plan = db.script(prep + "SET enable_indexscan = off;\n" + first)
    if "knowledge_chunks_embedding_idx" in plan:
        raise SystemExit("the exact query still uses the HNSW index:\n" + plan)
    plan = db.script(prep + "SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = %d;\n" % served
                     + first)
    res["vector_plan"] = "hnsw" if "knowledge_chunks_embedding_idx" in plan else "exact (no index scan)"
    print("the vector half's plan: %s" % res["vector_plan"])
    got, times, last = {}, {}, None
    for line in db.script("".join(sql)).splitlines():
        if line.startswith("Time: "):
            if last is not None and last[0] in ("idx", "text"):
                times.setdefault((last[0], last[1]), []).append(float(line.split()[1]))
            last = None
        elif "|" in line:
            kind, ef, j, ids = line.split("|", 3)
            if kind in ("idx", "exact"):
                got[(kind, int(ef), int(j))] = set(ids.split(",")) if ids else set()
            last = (kind, int(ef))
    res["recall"] = {}
    for ef in efs:
        hits = [len(got[("idx", ef, j)] & got[("exact", 0, j)]) / 5.0 for j in range(len(queries))]
        t = times.get(("idx", ef), [])
        res["recall"][str(ef)] = {"recall_at_5": sum(hits) / len(hits), "sql_p50_ms": percentile(t, 50),
                                  "sql_p95_ms": percentile(t, 95)}
        print("recall@5 of the vector half, hnsw.ef_search = %d: %.4f over %d queries; SQL time p50 %.2f ms, "
              "p95 %.2f ms" % (ef, res["recall"][str(ef)]["recall_at_5"], len(hits), percentile(t, 50) or 0,
                              percentile(t, 95) or 0))
    t = times.get(("text", 0), [])
    res["text_half_ms"] = {"p50": percentile(t, 50), "p95": percentile(t, 95)}
    print("the full-text half alone in SQL: p50 %s ms, p95 %s ms" % (_f(percentile(t, 50), 2),
                                                                   _f(percentile(t, 95), 2)))
    return res


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _load(d, name):
    try:
        with open(os.path.join(d, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _f(v, digits=0):
    return "-" if v is None else "%.*f" % (digits, v)


def cmd_report(args):
    d = args.dir
    ing, se, tt = _load(d, "ingest.json"), _load(d, "search.json"), _load(d, "ttfb-rag.json")
    rows = []
    if ing:
        rows.append(("ingestion, MB/s of text per worker process", _f(ing["mb_per_s_per_proc"], 2),
                     "%.1f MB in %d documents, %.1f s, %d worker processes, %d ingest threads in all;"
                     " %.2f MB/s in all" % (ing["mb"], ing["documents"], ing["seconds"], ing["procs"],
                                            ing["threads_per_proc"], ing["mb_per_s"]), ""))
        rows.append(("ingestion, chunks/s", _f(ing["chunks_per_s"]),
                     "%d chunks, %d failed documents; CPU s per MB: workers %s, Postgres %s" % (
                         ing["chunks"], ing["failed"], _f(ing.get("worker_cpu_s_per_mb"), 2),
                         _f(ing.get("postgres_cpu_s_per_mb"), 2)), ""))
    if se:
        lat, rec = se["latency_ms"], se["recall"]
        rows.append(("HNSW index size", "%.1f MiB" % (se["hnsw_bytes"] / 1048576.0),
                     "%d x 1024, %d topics, %s vectors" % (se["chunks"], se["clusters"],
                                                            se.get("vectors", "synthetic")), ""))
        rows.append(("HNSW index build", "%.1f s" % se["hnsw_build_s"],
                     "m=16, ef_construction=64; maintenance_work_mem %s, %s parallel workers; "
                     "the search's vector half plans %s" % (se["maintenance_work_mem"], se["parallel_workers"],
                                                           se.get("vector_plan")), ""))
        rows.append(("search API p50 / p95 (ms)", "%s / %s" % (_f(lat["p50"], 2), _f(lat["p95"], 2)),
                     "%d sequential queries, top_k 5; return 200 p50 %s ms" % (lat["n"], _f(se["baseline_ms"]["p50"], 3)),
                     "p95 < 10"))
        if se.get("text_half_ms"):
            rows.append(("  its full-text half in SQL p50 / p95", "%s / %s" % (
                _f(se["text_half_ms"]["p50"], 2), _f(se["text_half_ms"]["p95"], 2)),
                "the workers' statement in psql, warm (4 query words: chunks with all, then any)", ""))
        for ef, r in sorted(rec.items(), key=lambda kv: int(kv[0])):
            rows.append(("recall@5, ef_search %s%s" % (ef, " (as served)" if int(ef) == se.get("served_ef_search", 100) else ""),
                         _f(r["recall_at_5"], 3),
                         "the workers' vector half in psql: p50 %s ms, p95 %s ms" % (
                             _f(r["sql_p50_ms"], 2), _f(r["sql_p95_ms"], 2)),
                         ">= 0.95"))
    if tt:
        t = tt["targets"]
        if t.get("rag", {}).get("first_p50_us") is not None and t.get("plain", {}).get("first_p50_us") is not None:
            rows.append(("TTFT added by RAG, p50 / p99 (ms)",
                         "%.2f / %.2f" % ((t["rag"]["first_p50_us"] - t["plain"]["first_p50_us"]) / 1e3,
                                          (t["rag"]["first_p99_us"] - t["plain"]["first_p99_us"]) / 1e3),
                         "plain p50/p99 %.2f / %.2f ms, RAG %.2f / %.2f ms, %d turns each, in turn"
                         % (t["plain"]["first_p50_us"] / 1e3, t["plain"]["first_p99_us"] / 1e3,
                            t["rag"]["first_p50_us"] / 1e3, t["rag"]["first_p99_us"] / 1e3, t["rag"]["n"]), ""))
            if t["rag"]["errors"] or t["plain"]["errors"]:
                rows.append(("  chat errors", "%d / %d" % (t["rag"]["errors"], t["plain"]["errors"]), "", ""))
    w = max(len(r[0]) for r in rows) if rows else 10
    print("  %-*s %14s  %-10s %s" % (w, "", "measured", "target", "conditions"))
    for name, val, note, target in rows:
        print("  %-*s %14s  %-10s %s" % (w, name, val, target or "-", note))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--base", default="http://127.0.0.1:8080")
        p.add_argument("--token", required=True)
        p.add_argument("--db", required=True, help="libpq conninfo for psql")
        p.add_argument("--out")

    p = sub.add_parser("ingest")
    common(p)
    p.add_argument("docs")
    p.add_argument("--procs", type=int, default=2, help="worker processes (for the per-process figure)")
    p.add_argument("--threads", type=int, default=1, help="ingest threads running, in all")
    p.add_argument("--worker-pids", default="", help="comma-separated, for their CPU")
    p.add_argument("--pg-pid", type=int, default=0, help="the postmaster, for Postgres's CPU")
    p.add_argument("--timeout", type=int, default=3600)

    p = sub.add_parser("search")
    common(p)
    p.add_argument("--gen", required=True, help="the kb-gen binary")
    p.add_argument("--chunks", type=int, default=100000)
    p.add_argument("--per-doc", type=int, default=100)
    p.add_argument("--clusters", type=int, default=200)
    p.add_argument("--vectors", choices=("local", "synthetic"), default="local",
                   help="local: each chunk's and query's text through the workers' local embedder, so the "
                        "API embeds a query as the corpus was; synthetic: topic centres plus noise")
    p.add_argument("--noise", type=float, default=0.5, help="synthetic vectors' noise norm")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--warmup", type=int, default=200, help="untimed queries first (one pass over the queries)")
    p.add_argument("--ef", default="100,200,400", help="hnsw.ef_search values for recall")
    p.add_argument("--maintenance-work-mem", default="2GB")

    p = sub.add_parser("report")
    p.add_argument("dir")

    args = ap.parse_args(argv)
    if args.cmd == "report":
        return cmd_report(args)
    res = cmd_ingest(args) if args.cmd == "ingest" else cmd_search(args)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
