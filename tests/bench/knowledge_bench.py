#!/usr/bin/env python3
"""Knowledge benchmark (python3 stdlib, psql and build/kb-gen), used by
`auto-build.sh bench-knowledge` and runnable by hand against a stack:

  ingest DOCS_DIR            uploads every file of DOCS_DIR (kb-gen docs) to a
                             new knowledge base through the API, times from
                             the first upload to every document `ready`
                             (polling the documents table), and reports MB/s
                             (per worker process too) and chunks/s; then
                             deletes that base.
  search                     generates --chunks clustered 1024-dimensional
                             chunks (kb-gen chunks) straight into Postgres, in
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
import math
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


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

VEC_SQL = ("WITH vec AS MATERIALIZED (SELECT c.id, c.embedding <=> '%(v)s'::vector AS dist "
           "FROM knowledge_chunks c WHERE c.knowledge_base_id = ANY('{%(kb)s}'::uuid[]) "
           "AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
           "ORDER BY c.embedding <=> '%(v)s'::vector LIMIT 40) "
           "SELECT '%(tag)s|' || string_agg(id::text, ',') FROM "
           "(SELECT id FROM vec ORDER BY dist, id LIMIT 5) s;\n")


# the search statement itself (worker/db/queries.c, MG_Q_KB_SEARCH) with
# the bench's query vector: its time in SQL, without embedding and transport
FULL_SQL = ("WITH vec AS MATERIALIZED (SELECT c.id, c.embedding <=> '%(v)s'::vector AS dist "
            "FROM knowledge_chunks c WHERE c.knowledge_base_id = ANY('{%(kb)s}'::uuid[]) "
            "AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
            "ORDER BY c.embedding <=> '%(v)s'::vector LIMIT 40), "
            "vr AS (SELECT v.id, row_number() OVER (ORDER BY v.dist, v.id) AS r FROM vec v), "
            "tq AS (SELECT NULLIF(replace(plainto_tsquery('english', %(t)s::text)::text, '&', '|'), '')::tsquery AS q, "
            "tsvector_to_array(to_tsvector('english', %(t)s::text)) AS words), "
            "txt AS MATERIALIZED (SELECT c.id, ts_rank_cd(c.tsv, tq.q) AS rank "
            "FROM knowledge_chunks c, tq WHERE c.tsv @@ tq.q AND c.knowledge_base_id = ANY('{%(kb)s}'::uuid[]) "
            "AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
            "ORDER BY rank DESC, c.id LIMIT 40), "
            "tr AS (SELECT t.id, row_number() OVER (ORDER BY t.rank DESC, t.id) AS r FROM txt t), "
            "fused AS (SELECT COALESCE(vr.id, tr.id) AS id, "
            "(COALESCE(1.0 / (60 + vr.r), 0) + COALESCE(1.0 / (60 + tr.r), 0)) * 30.5 AS score, "
            "tr.id IS NOT NULL AS in_txt FROM vr FULL JOIN tr ON tr.id = vr.id) "
            "SELECT '%(tag)s|' || count(*) FROM (SELECT c.id, d.filename, c.heading, c.text, c.page, f.score, "
            "greatest(0, least(1, 1 - (c.embedding <=> '%(v)s'::vector))) AS sim, "
            "f.in_txt AND 3 * (SELECT count(*) FROM tq, unnest(tq.words) w "
            "WHERE c.tsv @@ quote_literal(w)::tsquery) >= 2 * (SELECT cardinality(words) FROM tq) AS m "
            "FROM fused f JOIN knowledge_chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id "
            "WHERE greatest(0, least(1, 1 - (c.embedding <=> '%(v)s'::vector))) >= 0 "
            "ORDER BY f.score DESC, sim DESC, c.id LIMIT 5) s;\n")


# the full-text half alone (the statement's tq and txt)
TXT_SQL = ("WITH tq AS (SELECT NULLIF(replace(plainto_tsquery('english', %(t)s::text)::text, '&', '|'), '')"
           "::tsquery AS q), "
           "txt AS MATERIALIZED (SELECT c.id, ts_rank_cd(c.tsv, tq.q) AS rank "
           "FROM knowledge_chunks c, tq WHERE c.tsv @@ tq.q AND c.knowledge_base_id = ANY('{%(kb)s}'::uuid[]) "
           "AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
           "ORDER BY rank DESC, c.id LIMIT 40) SELECT '%(tag)s|' || count(*) FROM txt;\n")


def sql_literal(t):
    return "'" + t.replace("'", "''") + "'"


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
                            "--per-doc", str(args.per_doc), "--noise", str(args.noise)],
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
    size = int(db.run("SELECT pg_relation_size('knowledge_chunks_embedding_idx')"))
    table = int(db.run("SELECT pg_total_relation_size('knowledge_chunks')"))
    workers = db.run("SHOW max_parallel_maintenance_workers")
    print("search corpus: %d chunks x 1024 in %d documents, %d clusters, noise %.2f: loaded in %.1f s; "
          "HNSW (%s) built in %.1f s (maintenance_work_mem %s, up to %s parallel workers), %.1f MiB; "
          "GIN %.1f s; table with indexes and TOAST %.1f MiB"
          % (args.chunks, ndocs, args.clusters, args.noise, load_s, defs["knowledge_chunks_embedding_idx"]
             .split(" WITH ")[-1] if " WITH " in defs["knowledge_chunks_embedding_idx"] else "default",
             hnsw_s, args.maintenance_work_mem, workers, size / 1048576.0, gin_s or 0, table / 1048576.0),
          file=sys.stderr)
    return kb, {"chunks": args.chunks, "documents": ndocs, "clusters": args.clusters, "noise": args.noise,
                "load_s": load_s, "hnsw_build_s": hnsw_s, "hnsw_bytes": size, "gin_build_s": gin_s,
                "table_bytes": table, "index_def": defs["knowledge_chunks_embedding_idx"],
                "maintenance_work_mem": args.maintenance_work_mem, "parallel_workers": workers}


def cmd_search(args):
    api, db = Api(args.base, args.token), Psql(args.db)
    kb, res = load_corpus(args, api, db)
    res["test"] = "search"
    res["kb"] = kb
    out = subprocess.run([args.gen, "queries", str(args.queries), "--clusters", str(args.clusters),
                          "--noise", str(args.noise)], capture_output=True, text=True, check=True).stdout
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
    efs = [int(e) for e in args.ef.split(",")]
    # a first pass untimed (the index is larger than shared_buffers: the
    # first query to touch a page would pay for the others), then each
    # ef_search, and the whole search statement at 100, timed
    sql = ["SET hnsw.iterative_scan = relaxed_order;\n", "SET hnsw.ef_search = %d;\n" % max(efs)]
    for j, (text, vec) in enumerate(queries):
        sql.append(VEC_SQL % {"v": vec, "kb": kb, "tag": "warm|0|%d" % j})
        sql.append(FULL_SQL % {"v": vec, "kb": kb, "t": sql_literal(text), "tag": "warm|1|%d" % j})
    sql.append("\\timing on\n")
    for j, (text, vec) in enumerate(queries):
        # each ef_search first in turn: the first to run pays the query's
        # pages into shared_buffers
        for ef in efs[j % len(efs):] + efs[:j % len(efs)]:
            sql.append("SET hnsw.ef_search = %d;\n" % ef)
            sql.append(VEC_SQL % {"v": vec, "kb": kb, "tag": "idx|%d|%d" % (ef, j)})
        sql.append(TXT_SQL % {"kb": kb, "t": sql_literal(text), "tag": "text|0|%d" % j})
        sql.append("SET hnsw.ef_search = 100;\n")
        sql.append(FULL_SQL % {"v": vec, "kb": kb, "t": sql_literal(text), "tag": "full|100|%d" % j})
    sql.append("SET enable_indexscan = off;\n")
    for j, (_, vec) in enumerate(queries):
        sql.append(VEC_SQL % {"v": vec, "kb": kb, "tag": "exact|0|%d" % j})
    plan = db.run("SET enable_indexscan = off; EXPLAIN (COSTS OFF) " + (VEC_SQL % {
        "v": queries[0][1], "kb": kb, "tag": "x"}).rstrip(";\n"))
    if "knowledge_chunks_embedding_idx" in plan:
        raise SystemExit("the exact query still uses the HNSW index:\n" + plan)
    plan = db.run("SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = 100; EXPLAIN (COSTS OFF) "
                  + (VEC_SQL % {"v": queries[0][1], "kb": kb, "tag": "x"}).rstrip(";\n"))
    res["vector_plan"] = "hnsw" if "knowledge_chunks_embedding_idx" in plan else "exact (no index scan)"
    print("the vector half's plan: %s" % res["vector_plan"])
    got, times, last = {}, {}, None
    for line in db.script("".join(sql)).splitlines():
        if line.startswith("Time: "):
            if last is not None and last[0] in ("idx", "full", "text"):
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
    t = times.get(("full", 100), [])
    res["statement_ms"] = {"p50": percentile(t, 50), "p95": percentile(t, 95)}
    print("the whole search statement in SQL (the bench's query vector, ef_search 100): p50 %s ms, p95 %s ms"
          % (_f(percentile(t, 50), 2), _f(percentile(t, 95), 2)))
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
                     "%d x 1024, %d clusters" % (se["chunks"], se["clusters"]), ""))
        rows.append(("HNSW index build", "%.1f s" % se["hnsw_build_s"],
                     "m=16, ef_construction=64; maintenance_work_mem %s, %s parallel workers; "
                     "the search's vector half plans %s" % (se["maintenance_work_mem"], se["parallel_workers"],
                                                           se.get("vector_plan")), ""))
        rows.append(("search API p50 / p95 (ms)", "%s / %s" % (_f(lat["p50"], 2), _f(lat["p95"], 2)),
                     "%d sequential queries, top_k 5; return 200 p50 %s ms" % (lat["n"], _f(se["baseline_ms"]["p50"], 3)),
                     "p95 < 10"))
        if se.get("statement_ms"):
            rows.append(("search statement in SQL p50 / p95 (ms)", "%s / %s" % (
                _f(se["statement_ms"]["p50"], 2), _f(se["statement_ms"]["p95"], 2)),
                "the same statement in psql, the bench's query vector, warm cache: the API figure less "
                "embedding and transport", ""))
        if se.get("text_half_ms"):
            rows.append(("  its full-text half alone p50 / p95", "%s / %s" % (
                _f(se["text_half_ms"]["p50"], 2), _f(se["text_half_ms"]["p95"], 2)),
                "the statement's tq and txt CTEs (4 query words ORed)", ""))
        for ef, r in sorted(rec.items(), key=lambda kv: int(kv[0])):
            rows.append(("recall@5, ef_search %s%s" % (ef, " (as served)" if ef == "100" else ""),
                         _f(r["recall_at_5"], 3),
                         "vector half in SQL: p50 %s ms, p95 %s ms" % (_f(r["sql_p50_ms"], 2), _f(r["sql_p95_ms"], 2)),
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
    p.add_argument("--noise", type=float, default=0.5)
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
