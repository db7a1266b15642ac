"""End-to-end tests of knowledge bases and their documents
(/api/v1/knowledge-bases...): CRUD, paging and ownership, uploads in every
format (raw bodies and multipart/form-data) reaching 'ready', duplicates,
bad input, and the ingest queue's faults (a worker killed mid-document,
Postgres restarted mid-document, a document deleted while ingested, the
embedding provider failing halfway and a retry).

Bad input, and where it is refused:
  - at upload (nothing stored): an empty file (400 empty_document), binary
    bytes sent as text/plain (400 invalid_document), a "PDF" that does not
    start with %PDF- (400 invalid_document), an unknown type (415), an
    over-limit body (413), a malformed multipart body (400
    invalid_multipart), an obviously bad URL (400 invalid_url), an unknown
    or foreign knowledge base (404);
  - by ingestion (the document ends 'failed' with the reason): a malformed,
    truncated or encrypted PDF, HTML holding only script.

Run: python3 tests/e2e/run.py test_knowledge.py
"""

import os
import sys
import threading
import time
import unittest
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
from fakes import (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY,  # noqa: E402
                   TITAN_EMBED_MODEL, FakeBedrock, Reply)

UPLOAD_MAX = 4 * 1024 * 1024
stack = bedrock = None

KB_KEYS = {"id", "name", "description", "embedding_model", "embedding_dim",
           "document_count", "chunk_count", "created_at", "updated_at"}
DOC_KEYS = {"id", "knowledge_base_id", "filename", "content_type", "source_url",
            "size_bytes", "status", "error", "progress", "chunk_count",
            "created_at", "updated_at"}


def setUpModule():
    global stack, bedrock
    bedrock = FakeBedrock().start()
    stack = Stack(workers=2, env={
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_INGEST_LEASE": "3",
        "MANGOO_UPLOAD_MAX": str(UPLOAD_MAX),
        # a pause after each embedding batch, so the fault tests can act
        # while a big document is half done
        "MANGOO_INGEST_BATCH_DELAY_MS": "40",
    }).start()


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


# -- documents made here ----------------------------------------------------

def make_pdf(pages, encrypt=False):
    """A small valid PDF (one Helvetica text line per page, a correct xref
    table).  encrypt adds a standard security handler dictionary whose
    password check nobody can pass."""
    objs = []

    def add(body):
        objs.append(body)
        return len(objs)

    catalog = add(None)
    pages_obj = add(None)
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for text in pages:
        esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = ("BT /F1 12 Tf 72 720 Td (%s) Tj ET" % esc).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                        b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                        % (pages_obj, font, content)))
    objs[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objs[pages_obj - 1] = (b"<< /Type /Pages /Kids [%s] /Count %d >>"
                           % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
    enc = None
    if encrypt:
        enc = add(b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -4 "
                  b"/O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objs) + 1, catalog)
    if enc:
        trailer += b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (enc, b"ab" * 16, b"ab" * 16)
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def big_text(tag, paragraphs=1500):
    """Plain text, unique to tag, some hundreds of chunks long."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa",
             "lambda", "sigma", "omega", "river", "stone", "cloud", "garden", "lantern"]
    out = []
    for i in range(paragraphs):
        line = " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(40))
        out.append("Paragraph %d of %s. %s." % (i, tag, line))
    return ("\n\n".join(out) + "\n").encode()


def multipart(parts, boundary="mgBoundary7MA4YWxk"):
    """parts: (name, filename or None, content type or None, bytes)."""
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'Content-Disposition: form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += disp.encode() + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


class KnowledgeTestCase(unittest.TestCase):
    maxDiff = None

    def sub(self, suffix=""):
        return "kb-%s%s" % (self.id().rsplit(".", 1)[-1], suffix)

    def assertError(self, r, status, code, mentions=None):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(body["error"]["code"], code, body)
        self.assertTrue(body["error"]["message"], body)
        if mentions is not None:
            self.assertIn(mentions, body["error"]["message"], body)
        return body["error"]

    def make_kb(self, tok, **fields):
        fields.setdefault("name", "kb")
        r = stack.request("POST", "/api/v1/knowledge-bases", fields, token=tok)
        self.assertEqual(r.status, 201, r)
        kb = r.json()
        self.assertEqual(set(kb), KB_KEYS, kb)
        return kb

    def docs_path(self, kb_id):
        return "/api/v1/knowledge-bases/%s/documents" % kb_id

    def upload(self, tok, kb_id, data, ctype, filename=None, status=202):
        path = self.docs_path(kb_id)
        if filename:
            path += "?filename=" + filename
        headers = {"Content-Type": ctype} if ctype else {}
        r = stack.request("POST", path, raw=data, token=tok, headers=headers)
        if status is not None:
            self.assertEqual(r.status, status, r)
        return r

    def get_doc(self, tok, kb_id, doc_id):
        return stack.request("GET", "%s/%s" % (self.docs_path(kb_id), doc_id), token=tok)

    def wait_doc(self, tok, kb_id, doc_id, statuses=("ready", "failed"), timeout=60):
        last = {}

        def done():
            r = self.get_doc(tok, kb_id, doc_id)
            if r.status != 200:
                return None
            last["doc"] = r.json()
            return last["doc"] if last["doc"]["status"] in statuses else None

        doc = stack.wait_for(done, timeout=timeout, interval=0.1)
        self.assertIsNotNone(doc, "document %s never reached %s: %r"
                             % (doc_id, statuses, last.get("doc")))
        return doc

    def assertReady(self, doc):
        self.assertEqual(doc["status"], "ready", doc)
        self.assertIsNone(doc["error"], doc)
        self.assertGreater(doc["chunk_count"], 0, doc)
        self.assertEqual(doc["progress"]["done"], doc["progress"]["total"], doc)
        self.assertEqual(doc["chunk_count"], doc["progress"]["total"], doc)
        self.assertNoDuplicateChunks(doc["id"], doc["chunk_count"])

    def assertFailed(self, doc, mentions=None):
        self.assertEqual(doc["status"], "failed", doc)
        self.assertIsInstance(doc["error"], str, doc)
        self.assertTrue(doc["error"].strip(), doc)
        self.assertEqual(doc["chunk_count"], 0, doc)
        self.assertEqual(self.chunks_of(doc["id"]), 0)
        if mentions is not None:
            self.assertIn(mentions, doc["error"].lower(), doc)

    def chunks_of(self, doc_id):
        return int(stack.psql("select count(*) from knowledge_chunks where document_id = '%s'"
                              % doc_id))

    def assertNoDuplicateChunks(self, doc_id, expected):
        row = stack.psql("select count(*), count(distinct chunk_index), "
                         "coalesce(min(chunk_index), 0), coalesce(max(chunk_index), -1) "
                         "from knowledge_chunks where document_id = '%s'" % doc_id)
        n, distinct, lo, hi = (int(x) for x in row.split("|"))
        self.assertEqual(n, expected)
        self.assertEqual(distinct, n)
        self.assertEqual((lo, hi), (0, n - 1))

    def doc_rows(self, kb_id):
        return int(stack.psql("select count(*) from documents where knowledge_base_id = '%s'"
                              % kb_id))


class KnowledgeBaseApiTest(KnowledgeTestCase):
    def test_create_get_update_delete(self):
        tok = stack.token(self.sub())
        r = stack.request("POST", "/api/v1/knowledge-bases",
                          {"name": "Handbook", "description": "HR"}, token=tok)
        self.assertEqual(r.status, 201, r)
        kb = r.json()
        self.assertEqual(r.header("Location"), "/api/v1/knowledge-bases/" + kb["id"])
        self.assertEqual((kb["name"], kb["description"], kb["embedding_model"],
                          kb["embedding_dim"], kb["document_count"], kb["chunk_count"]),
                         ("Handbook", "HR", "local", 1024, 0, 0))
        path = "/api/v1/knowledge-bases/" + kb["id"]
        self.assertEqual(stack.request("GET", path, token=tok).json(), kb)

        r = stack.request("PATCH", path, {"name": "Manual"}, token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["name"], r.json()["description"]), ("Manual", "HR"))
        r = stack.request("PATCH", path, {"embedding_model": "local"}, token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertError(stack.request("PATCH", path,
                                       {"embedding_model": "amazon.titan-embed-text-v2:0"},
                                       token=tok), 400, "invalid_field")
        self.assertError(stack.request("PATCH", path, {"name": "  "}, token=tok),
                         400, "invalid_field")
        self.assertEqual(stack.request("GET", path, token=tok).json()["name"], "Manual")

        self.assertEqual(stack.request("DELETE", path, token=tok).status, 204)
        self.assertError(stack.request("GET", path, token=tok), 404,
                         "knowledge_base_not_found")
        self.assertError(stack.request("DELETE", path, token=tok), 404,
                         "knowledge_base_not_found")

    def test_create_validation(self):
        tok = stack.token(self.sub())
        self.assertError(stack.request("POST", "/api/v1/knowledge-bases", {}, token=tok),
                         400, "invalid_field")
        self.assertError(stack.request("POST", "/api/v1/knowledge-bases",
                                       {"name": "x", "embedding_model": "openai:nope"},
                                       token=tok), 400, "embedding_model_unavailable")
        self.assertError(stack.request("POST", "/api/v1/knowledge-bases",
                                       {"name": "x", "bogus": 1}, token=tok),
                         400, "unknown_field")
        self.assertEqual(stack.request("GET", "/api/v1/knowledge-bases", token=tok)
                         .json()["items"], [])

    def test_list_pages_newest_first(self):
        tok = stack.token(self.sub())
        made = [self.make_kb(tok, name="kb%d" % i)["id"] for i in range(5)]
        seen, cursor = [], None
        for _ in range(5):
            q = "?limit=2" + ("&cursor=" + cursor if cursor else "")
            page = stack.request("GET", "/api/v1/knowledge-bases" + q, token=tok).json()
            self.assertLessEqual(len(page["items"]), 2)
            seen += [k["id"] for k in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, list(reversed(made)))
        self.assertError(stack.request("GET", "/api/v1/knowledge-bases?limit=0", token=tok),
                         400, "invalid_query")

    def test_counts_and_cascade_on_delete(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)
        d1 = self.upload(tok, kb["id"], b"First document about lanterns.\n", "text/plain").json()
        d2 = self.upload(tok, kb["id"], b"# Second\n\nAbout gardens.\n", "text/markdown").json()
        for d in (d1, d2):
            self.assertReady(self.wait_doc(tok, kb["id"], d["id"]))
        got = stack.request("GET", "/api/v1/knowledge-bases/" + kb["id"], token=tok).json()
        self.assertEqual(got["document_count"], 2)
        self.assertEqual(got["chunk_count"], self.chunks_of(d1["id"]) + self.chunks_of(d2["id"]))
        self.assertEqual(stack.request("DELETE", "/api/v1/knowledge-bases/" + kb["id"],
                                       token=tok).status, 204)
        self.assertEqual(self.doc_rows(kb["id"]), 0)
        self.assertEqual(self.chunks_of(d1["id"]) + self.chunks_of(d2["id"]), 0)

    def test_another_user_gets_404_everywhere(self):
        alice, bob = stack.token(self.sub("a")), stack.token(self.sub("b"))
        kb = self.make_kb(alice)
        doc = self.upload(alice, kb["id"], b"Alice's private notes.\n", "text/plain").json()
        self.wait_doc(alice, kb["id"], doc["id"])
        base = "/api/v1/knowledge-bases/" + kb["id"]
        docp = "%s/documents/%s" % (base, doc["id"])
        for method, path, body, code in (
                ("GET", base, None, "knowledge_base_not_found"),
                ("PATCH", base, {"name": "mine"}, "knowledge_base_not_found"),
                ("DELETE", base, None, "knowledge_base_not_found"),
                ("GET", base + "/documents", None, "knowledge_base_not_found"),
                ("GET", docp, None, "document_not_found"),
                ("DELETE", docp, None, "document_not_found"),
                ("POST", docp + "/retry", None, "document_not_found")):
            with self.subTest(method=method, path=path):
                self.assertError(stack.request(method, path, body, token=bob), 404, code)
        r = self.upload(bob, kb["id"], b"bob's text\n", "text/plain", status=None)
        self.assertError(r, 404, "knowledge_base_not_found")
        self.assertEqual(stack.request("GET", "/api/v1/knowledge-bases", token=bob)
                         .json()["items"], [])
        # and nothing of Alice's changed
        self.assertEqual(stack.request("GET", base, token=alice).json()["name"], "kb")
        self.assertEqual(self.get_doc(alice, kb["id"], doc["id"]).status, 200)
        self.assertEqual(self.doc_rows(kb["id"]), 1)

    def test_unknown_and_malformed_ids(self):
        tok = stack.token(self.sub())
        for kb_id in (str(uuid.uuid4()), "not-a-uuid"):
            with self.subTest(kb=kb_id):
                self.assertError(stack.request("GET", "/api/v1/knowledge-bases/" + kb_id,
                                               token=tok), 404, "knowledge_base_not_found")
                r = self.upload(tok, kb_id, b"text\n", "text/plain", status=None)
                self.assertError(r, 404, "knowledge_base_not_found")
        kb = self.make_kb(tok)
        for doc_id in (str(uuid.uuid4()), "nope"):
            self.assertError(self.get_doc(tok, kb["id"], doc_id), 404, "document_not_found")


class BotKnowledgeBasesTest(KnowledgeTestCase):
    def test_bot_links_several_of_its_owners_bases(self):
        tok = stack.token(self.sub())
        a, b = self.make_kb(tok, name="a")["id"], self.make_kb(tok, name="b")["id"]
        r = stack.request("POST", "/api/v1/bots", {"name": "rag", "rag_enabled": True,
                                                   "knowledge_base_ids": [a, b]}, token=tok)
        self.assertEqual(r.status, 201, r)
        bot = r.json()
        self.assertEqual(bot["knowledge_base_id"], a)
        self.assertEqual(bot["knowledge_base_ids"], [a, b])
        path = "/api/v1/bots/" + bot["id"]
        self.assertEqual(stack.request("GET", path, token=tok).json()["knowledge_base_ids"],
                         [a, b])
        # knowledge_base_id alone still works: the list becomes that one
        r = stack.request("PATCH", path, {"knowledge_base_id": b}, token=tok)
        self.assertEqual((r.json()["knowledge_base_id"], r.json()["knowledge_base_ids"]),
                         (b, [b]))
        r = stack.request("PATCH", path, {"knowledge_base_ids": []}, token=tok)
        self.assertEqual((r.json()["knowledge_base_id"], r.json()["knowledge_base_ids"]),
                         (None, []))
        self.assertError(stack.request("PATCH", path, {"knowledge_base_ids": "x"}, token=tok),
                         400, "invalid_field")
        self.assertError(stack.request("PATCH", path,
                                       {"knowledge_base_ids": [str(uuid.uuid4())] * 11},
                                       token=tok), 400, "invalid_field")
        # a deleted knowledge base leaves the list
        stack.request("PATCH", path, {"knowledge_base_ids": [a, b]}, token=tok)
        stack.request("DELETE", "/api/v1/knowledge-bases/" + a, token=tok)
        self.assertEqual(stack.request("GET", path, token=tok).json()["knowledge_base_ids"],
                         [b])

    def test_cannot_link_a_foreign_or_unknown_base(self):
        alice, bob = stack.token(self.sub("a")), stack.token(self.sub("b"))
        foreign = self.make_kb(alice)["id"]
        own = self.make_kb(bob)["id"]
        for ids in ([foreign], [own, foreign], [str(uuid.uuid4())]):
            with self.subTest(ids=ids):
                r = stack.request("POST", "/api/v1/bots",
                                  {"name": "x", "knowledge_base_ids": ids}, token=bob)
                self.assertError(r, 400, "invalid_field", "knowledge base not found")
        self.assertEqual(stack.request("GET", "/api/v1/bots", token=bob).json()["items"], [])
        r = stack.request("POST", "/api/v1/bots", {"name": "x", "knowledge_base_ids": [own]},
                          token=bob)
        path = "/api/v1/bots/" + r.json()["id"]
        r = stack.request("PATCH", path, {"knowledge_base_ids": [own, foreign]}, token=bob)
        self.assertError(r, 400, "invalid_field", "knowledge base not found")
        r = stack.request("PATCH", path, {"knowledge_base_id": foreign}, token=bob)
        self.assertError(r, 400, "invalid_field", "knowledge base not found")
        self.assertEqual(stack.request("GET", path, token=bob).json()["knowledge_base_ids"],
                         [own])

    def test_export_holds_knowledge_metadata(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok, name="exported")
        doc = self.upload(tok, kb["id"], b"Exported words.\n", "text/plain").json()
        self.wait_doc(tok, kb["id"], doc["id"])
        body = stack.request("GET", "/api/v1/users/me/export", token=tok).json()
        (k,) = body["knowledge_bases"]
        self.assertEqual((k["id"], k["name"], k["embedding_model"]),
                         (kb["id"], "exported", "local"))
        (d,) = k["documents"]
        self.assertEqual((d["id"], d["filename"], d["status"], d["size_bytes"]),
                         (doc["id"], doc["filename"], "ready", 16))
        self.assertNotIn("body", d)


class UploadTest(KnowledgeTestCase):
    def test_each_format_reaches_ready(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        html = (b"<html><head><title>T</title><style>p{color:red}</style>"
                b"<script>var secret = 1;</script></head><body><h1>Intro</h1>"
                b"<p>Lanterns light the garden path.</p><h2>More</h2><p>Rivers.</p>"
                b"</body></html>")
        cases = [
            ("text/plain", b"Plain words about stones and clouds.\n", "notes.txt"),
            ("text/plain; charset=utf-8", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e.\n".encode(),
             "cafe.txt"),
            ("text/markdown", b"# Title\n\nSome *markdown* text.\n\n## Part\n\nMore.\n", None),
            ("text/html", html, "page.html"),
            ("application/pdf", make_pdf(["First page text.", "Second page text."]),
             "two.pdf"),
        ]
        docs = []
        for ctype, data, name in cases:
            r = self.upload(tok, kb, data, ctype, filename=name)
            doc = r.json()
            self.assertEqual(set(doc), DOC_KEYS, doc)
            self.assertEqual(doc["status"], "queued")
            self.assertEqual(doc["size_bytes"], len(data))
            self.assertEqual(doc["content_type"].split(";")[0], ctype.split(";")[0])
            self.assertIsNone(doc["source_url"])
            self.assertTrue(r.header("Location").endswith("/documents/" + doc["id"]), r)
            docs.append((doc, name))
        for doc, name in docs:
            with self.subTest(type=doc["content_type"]):
                got = self.wait_doc(tok, kb, doc["id"])
                self.assertReady(got)
                if name is None:
                    self.assertEqual(got["filename"], "document.md")
                else:
                    self.assertEqual(got["filename"], name)
        pdf_doc = docs[-1][0]
        pages = stack.psql("select string_agg(distinct page::text, ',' order by page::text) "
                           "from knowledge_chunks where document_id = '%s'" % pdf_doc["id"])
        self.assertIn("1", pages)
        text = stack.psql("select string_agg(text, ' ') from knowledge_chunks "
                          "where document_id = '%s'" % docs[3][0]["id"])
        self.assertIn("Lanterns", text)
        self.assertNotIn("secret", text)

    def test_multipart_upload(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        body, ctype = multipart([("note", None, None, b"ignored field"),
                                 ("file", "guide.md", "text/markdown",
                                  b"# Guide\r\n\r\nLine one.\r\nLine two.\r\n")])
        doc = self.upload(tok, kb, body, ctype).json()
        self.assertEqual((doc["filename"], doc["content_type"]), ("guide.md", "text/markdown"))
        self.assertEqual(doc["size_bytes"], len(b"# Guide\r\n\r\nLine one.\r\nLine two.\r\n"))
        self.assertReady(self.wait_doc(tok, kb, doc["id"]))
        # a part without a Content-Type: its extension says; a path is cut off
        body, ctype = multipart([("file", "C:\\\\docs\\\\page.htm", None,
                                  b"<p>Hello from a page</p>")], boundary="----x y")
        ctype = 'multipart/form-data; boundary="----x y"'
        doc = self.upload(tok, kb, body, ctype).json()
        self.assertEqual((doc["filename"], doc["content_type"]), ("page.htm", "text/html"))
        self.assertReady(self.wait_doc(tok, kb, doc["id"]))
        # the same bytes through multipart and raw are one document
        pdf = make_pdf(["Shared content."])
        first = self.upload(tok, kb, *multipart([("file", "s.pdf", "application/pdf", pdf)]))
        again = self.upload(tok, kb, pdf, "application/pdf", status=200)
        self.assertEqual(again.json()["id"], first.json()["id"])
        self.assertTrue(again.json()["duplicate"])

    def test_duplicates_are_one_document(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        data = b"The same words twice.\n"
        first = self.upload(tok, kb, data, "text/plain").json()
        r = self.upload(tok, kb, data, "text/plain", filename="other.txt", status=200)
        self.assertEqual(r.json()["id"], first["id"])
        self.assertIs(r.json()["duplicate"], True)
        self.assertNotIn("duplicate", first)
        # another knowledge base is another place
        other = self.make_kb(tok)["id"]
        self.upload(tok, other, data, "text/plain", status=202)
        # concurrent twins: one 202, the rest 200 with the same id, one row
        data = b"Raced content %s\n" % uuid.uuid4().hex.encode()
        before = self.doc_rows(kb)
        results = []

        def send():
            results.append(self.upload(tok, kb, data, "text/plain", status=None))

        threads = [threading.Thread(target=send) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] * 5 + [202], results)
        self.assertEqual(len({r.json()["id"] for r in results}), 1)
        self.assertEqual(self.doc_rows(kb), before + 1)

    def test_bad_input_refused_at_upload(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        cases = [
            (b"", "text/plain", 400, "empty_document"),
            (b"\x00\x01\x02binary\xff\xfe", "text/plain", 400, "invalid_document"),
            (b"PK\x03\x04 a zip", "application/pdf", 400, "invalid_document"),
            (b"\x89PNG\r\n", "image/png", 415, "unsupported_media_type"),
            (b"data", "application/octet-stream", 415, "unsupported_media_type"),
            (b"data", None, 415, "unsupported_media_type"),
            (multipart([("file", "e.txt", "text/plain", b"")])[0],
             multipart([])[1], 400, "empty_document"),
            (multipart([("file", "x.png", "image/png", b"\x89PNG")])[0],
             multipart([])[1], 415, "unsupported_media_type"),
        ]
        for data, ctype, status, code in cases:
            with self.subTest(ctype=ctype, data=data[:20]):
                self.assertError(self.upload(tok, kb, data, ctype, status=None), status, code)
        self.assertEqual(self.doc_rows(kb), 0)
        # without a useful type, the file name's extension says
        for ctype in (None, "application/octet-stream"):
            r = self.upload(tok, kb, b"# From the name %r\n" % ctype, ctype, filename="n.md")
            self.assertEqual(r.json()["content_type"], "text/markdown")

    def test_malformed_multipart_is_400(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        good, ctype = multipart([("file", "a.txt", "text/plain", b"hello")])
        cases = [
            (good, "multipart/form-data"),                          # no boundary
            (good[:-8], ctype),                                     # truncated
            (good.replace(b"\r\n", b"\n"), ctype),                  # bare LF
            (multipart([("other", "a.txt", "text/plain", b"x")])[0], ctype),  # no file part
            (b"no delimiter at all", ctype),
            (good.replace(b"Content-Disposition", b"Content Disposition"), ctype),
            (good.replace(b'filename="a.txt"', b'filename="a.txt'), ctype),
        ]
        for data, ct in cases:
            with self.subTest(data=data[:60], ctype=ct):
                self.assertError(self.upload(tok, kb, data, ct, status=None),
                                 400, "invalid_multipart")
        self.assertEqual(self.doc_rows(kb), 0)

    def test_over_the_limit_is_413_and_writes_nothing(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        data = b"a" * (UPLOAD_MAX + 1)
        self.assertError(self.upload(tok, kb, data, "text/plain", status=None),
                         413, "payload_too_large")
        body, ctype = multipart([("file", "big.txt", "text/plain", data)])
        self.assertError(self.upload(tok, kb, body, ctype, status=None),
                         413, "payload_too_large")
        self.assertEqual(self.doc_rows(kb), 0)
        # exactly the limit is fine
        doc = self.upload(tok, kb, b"b" * UPLOAD_MAX, "text/plain").json()
        self.assertEqual(doc["size_bytes"], UPLOAD_MAX)
        stack.request("DELETE", "%s/%s" % (self.docs_path(kb), doc["id"]), token=tok)

    def test_bad_documents_fail_with_a_reason(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        good = make_pdf(["Some text that will be cut."] * 3)
        cases = [
            ("malformed pdf", b"%PDF-1.4\nthis is not a pdf at all\n", "application/pdf"),
            ("truncated pdf", good[:len(good) // 2], "application/pdf"),
            ("encrypted pdf", make_pdf(["Secret text."], encrypt=True), "application/pdf"),
            ("script-only html", b"<html><head><script>alert('x')</script></head>"
                                 b"<body><script>var a = 1;</script></body></html>",
             "text/html"),
            ("invalid utf-8", b"caf\xe9 au lait \xff\xfe\n", "text/plain"),
        ]
        docs = [(name, self.upload(tok, kb, data, ctype).json()) for name, data, ctype in cases]
        for name, doc in docs:
            with self.subTest(case=name):
                got = self.wait_doc(tok, kb, doc["id"])
                if name == "invalid utf-8" and got["status"] == "ready":
                    continue            # transcoded (from Latin-1) is fine too
                self.assertFailed(got, {"encrypted pdf": "encrypted",
                                        "script-only html": "no text"}.get(name))
        # a failed document can be retried (and fails the same way)
        name, doc = docs[3]
        path = "%s/%s/retry" % (self.docs_path(kb), doc["id"])
        r = stack.request("POST", path, token=tok)
        self.assertEqual(r.status, 202, r)
        self.assertIn(r.json()["status"], ("queued", "processing", "failed"))
        self.assertFailed(self.wait_doc(tok, kb, doc["id"]))

    def test_urls_are_checked_at_upload(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        for url in ("ftp://example.com/a", "https://", "http:///path", "example.com",
                    "https://exa mple.com/", "https://example.com/" + "a" * 2048,
                    "javascript:alert(1)"):
            with self.subTest(url=url[:40]):
                r = stack.request("POST", self.docs_path(kb), {"url": url}, token=tok)
                self.assertError(r, 400, "invalid_url")
        self.assertError(stack.request("POST", self.docs_path(kb), {"url": 5}, token=tok),
                         400, "invalid_field")
        self.assertEqual(self.doc_rows(kb), 0)
        # a well-formed one is stored with its source and fetched later
        r = stack.request("POST", self.docs_path(kb),
                          {"url": "http://127.0.0.1:9/docs/guide.html?x=1"}, token=tok)
        if r.status == 400 and r.json()["error"]["code"] == "url_not_supported":
            return
        self.assertEqual(r.status, 202, r)
        doc = r.json()
        self.assertEqual((doc["source_url"], doc["filename"], doc["size_bytes"]),
                         ("http://127.0.0.1:9/docs/guide.html?x=1", "guide.html", 0))
        # loopback is refused by the fetcher: failed, with the reason
        self.assertFailed(self.wait_doc(tok, kb, doc["id"]))


class DocumentApiTest(KnowledgeTestCase):
    def test_list_get_delete_retry(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        made = [self.upload(tok, kb, b"document number %d\n" % i, "text/plain").json()["id"]
                for i in range(5)]
        seen, cursor = [], None
        for _ in range(5):
            q = "?limit=2" + ("&cursor=" + cursor if cursor else "")
            page = stack.request("GET", self.docs_path(kb) + q, token=tok).json()
            seen += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, list(reversed(made)))
        doc = self.wait_doc(tok, kb, made[0])
        self.assertReady(doc)
        r = stack.request("POST", "%s/%s/retry" % (self.docs_path(kb), made[0]), token=tok)
        self.assertError(r, 409, "not_failed")
        r = stack.request("DELETE", "%s/%s" % (self.docs_path(kb), made[0]), token=tok)
        self.assertEqual(r.status, 204, r)
        self.assertError(self.get_doc(tok, kb, made[0]), 404, "document_not_found")
        self.assertEqual(self.chunks_of(made[0]), 0)
        # deleted content may come again
        self.upload(tok, kb, b"document number 0\n", "text/plain", status=202)


class IngestFaultTest(KnowledgeTestCase):
    def start_big(self, tok, kb, tag):
        doc = self.upload(tok, kb, big_text(tag), "text/plain").json()

        def half_done():
            d = self.get_doc(tok, kb, doc["id"]).json()
            p = d["progress"]
            return d if d["status"] == "processing" and 0 < p["done"] < p["total"] else None

        got = stack.wait_for(half_done, timeout=30, interval=0.02)
        self.assertIsNotNone(got, "the big document was never seen half done")
        return got

    def holder_worker(self, doc_id):
        leased = stack.psql("select leased_by from documents where id = '%s'" % doc_id)
        pid = int(leased.split(":")[1])
        for i in range(stack.workers):
            try:
                if stack.worker_pid(i) == pid:
                    return i
            except FileNotFoundError:
                pass
        self.fail("no worker holds %s (%s)" % (doc_id, leased))

    def test_worker_killed_mid_document(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        doc = self.start_big(tok, kb, "killed")
        i = self.holder_worker(doc["id"])
        stack.kill_worker(i)
        try:
            got = self.wait_doc(tok, kb, doc["id"], timeout=90)
            self.assertReady(got)
            attempts = int(stack.psql("select attempts from documents where id = '%s'"
                                      % doc["id"]))
            self.assertGreaterEqual(attempts, 2)
        finally:
            stack.start_worker(i)

    def test_postgres_restarted_mid_document(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        doc = self.start_big(tok, kb, "restarted")
        stack.restart_db()
        got = self.wait_doc(tok, kb, doc["id"], timeout=90)
        self.assertReady(got)

    def test_document_deleted_while_ingested(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok)["id"]
        doc = self.start_big(tok, kb, "deleted")
        r = stack.request("DELETE", "%s/%s" % (self.docs_path(kb), doc["id"]), token=tok)
        self.assertEqual(r.status, 204, r)
        time.sleep(3)
        self.assertError(self.get_doc(tok, kb, doc["id"]), 404, "document_not_found")
        self.assertEqual(self.chunks_of(doc["id"]), 0)
        self.assertEqual(self.doc_rows(kb), 0)
        # the ingest threads are still at work
        d = self.upload(tok, kb, b"after the delete\n", "text/plain").json()
        self.assertReady(self.wait_doc(tok, kb, d["id"]))


    def test_embedding_provider_failing_halfway_then_retry(self):
        tok = stack.token(self.sub())
        kb = self.make_kb(tok, embedding_model=TITAN_EMBED_MODEL)
        self.assertEqual(kb["embedding_model"], TITAN_EMBED_MODEL)
        kb = kb["id"]
        seen = len(bedrock.requests)
        # Titan embeds one text a call: 20 good ones, then every call 500s
        # (retried inside mg_embed, then given up)
        bedrock.fail_after(20, status=500)
        try:
            doc = self.upload(tok, kb, big_text("titan", paragraphs=450), "text/plain").json()
            got = self.wait_doc(tok, kb, doc["id"], timeout=60)
            self.assertFailed(got, "embedding")
            # it failed halfway: more chunks than the first batch held
            self.assertGreater(got["progress"]["total"], 16, got)
            self.assertGreaterEqual(len(bedrock.requests) - seen, 21)
            r = stack.request("POST", "/api/v1/knowledge-bases/%s/search" % kb,
                              {"query": "Paragraph alpha river"}, token=tok)
            if r.status == 200:
                self.assertEqual(r.json()["items"], [])
        finally:
            bedrock.default = Reply()
        r = stack.request("POST", "%s/%s/retry" % (self.docs_path(kb), doc["id"]), token=tok)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["status"], "queued")
        self.assertIsNone(r.json()["error"])
        got = self.wait_doc(tok, kb, doc["id"], timeout=60)
        self.assertReady(got)
        self.assertEqual(stack.psql("select string_agg(distinct embedding_model, ',') "
                                    "from knowledge_chunks where document_id = '%s'"
                                    % doc["id"]), TITAN_EMBED_MODEL)
        r = stack.request("POST", "/api/v1/knowledge-bases/%s/search" % kb,
                          {"query": "Paragraph alpha river"}, token=tok)
        if r.status == 200:
            self.assertTrue(r.json()["items"], r)


if __name__ == "__main__":
    unittest.main()
