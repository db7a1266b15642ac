"""End-to-end tests of hybrid search and grounded answers (issue 9):
POST /api/v1/knowledge-bases/{id}/search over documents ingested through
the real upload API, and chat turns of bots with rag_enabled, answered by
the offline model from the retrieved sources with a `citations` event,
citations stored with the answer and returned by GET /api/v1/chats/{id}.

Facts are invented words (Zorbania, Quuxville, ...) so that no chunk can
match by accident; ownership is checked by content (another user's fact
never shows up) as well as by status (another user's base is 404)."""

import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

stack = None
A = {}          # the main user's token, base, documents
B = {}          # another user's

DOCS = {
    "atlas.md": ("text/markdown",
                 "# Atlas of Zorbania\n\n"
                 "The capital of Zorbania is Quuxville, a river port founded in 1642 by "
                 "salt traders. Quuxville hosts the parliament and the royal archive.\n\n"
                 "## Climate\n\nZorbania has mild winters and long dry summers.\n"),
    "kitchen.txt": ("text/plain",
                    "Kitchen rules of the Mangoo office.\n\n"
                    "The espresso machine is descaled every Thursday by Priyanka. Milk goes "
                    "in the left fridge, never the right one, because the right fridge "
                    "stores the lab samples.\n"),
    "rockets.md": ("text/markdown",
                   "# Rocketry club\n\n"
                   "Our rocket Blastwing-9 reached an apogee of 3120 metres on its maiden "
                   "flight. The motor was a hybrid of nitrous oxide and paraffin wax.\n"),
    "garden.txt": ("text/plain",
                   "Garden notes. The tomato beds are watered at dawn. Marigolds keep "
                   "aphids away from the peppers, and the compost is turned every "
                   "fortnight.\n"),
}

SECRET = ("The vault beneath the lighthouse opens with the passphrase "
          "Xylophone-Marmalade-77, known only to the keeper.\n")


def setUpModule():
    global stack
    stack = Stack(workers=2, threads=4, timeout="10s", env={
        "MANGOO_LOCAL_DELAY_MS": "0",
    }).start()
    A["token"] = user("rag-a")
    B["token"] = user("rag-b")
    A["kb"] = make_kb(A["token"], "atlas")
    A["docs"] = {name: upload(A["token"], A["kb"], name, ct, body)
                 for name, (ct, body) in DOCS.items()}
    B["kb"] = make_kb(B["token"], "secrets")
    B["doc"] = upload(B["token"], B["kb"], "vault.txt", "text/plain", SECRET)
    for tok, kb, doc in [(A["token"], A["kb"], d) for d in A["docs"].values()] + \
            [(B["token"], B["kb"], B["doc"])]:
        wait_ready(tok, kb, doc)


def tearDownModule():
    if stack is not None:
        stack.stop()


def user(sub):
    token = stack.token(sub=sub)
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def make_kb(token, name):
    r = stack.request("POST", "/api/v1/knowledge-bases", body={"name": name}, token=token)
    assert r.status == 201, r
    return r.json()["id"]


def upload(token, kb, filename, ctype, text):
    r = stack.request("POST", "/api/v1/knowledge-bases/%s/documents?filename=%s"
                      % (kb, urllib.parse.quote(filename)),
                      raw=text.encode(), token=token, headers={"Content-Type": ctype})
    assert r.status == 202, r
    return r.json()["id"]


def wait_ready(token, kb, doc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = stack.request("GET", "/api/v1/knowledge-bases/%s/documents/%s" % (kb, doc),
                          token=token)
        assert r.status == 200, r
        st = r.json()["status"]
        if st == "ready":
            return
        assert st in ("queued", "processing"), r.json()
        time.sleep(0.1)
    raise AssertionError("document %s not ready in %ss" % (doc, timeout))


def search(token, kb, **body):
    return stack.request("POST", "/api/v1/knowledge-bases/%s/search" % kb, body=body,
                         token=token)


def psql(sql):
    return stack.psql(sql).strip()


def make_bot(token, kbs, rag=True):
    body = {"name": "rag bot", "model_id": "local", "rag_enabled": rag}
    if kbs:
        body["knowledge_base_ids"] = kbs
    r = stack.request("POST", "/api/v1/bots", body=body, token=token)
    assert r.status == 201, r
    return r.json()["id"]


class Search(unittest.TestCase):
    def test_keyword_query_finds_the_chunk_first(self):
        r = search(A["token"], A["kb"], query="Blastwing-9 apogee")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["embedding_model"], "local")
        items = body["items"]
        self.assertGreaterEqual(len(items), 1)
        top = items[0]
        self.assertEqual(top["document"], "rockets.md")
        self.assertEqual(top["document_id"], A["docs"]["rockets.md"])
        self.assertIn("3120 metres", top["text"])
        self.assertIn("Blastwing-9", top["snippet"])
        self.assertLessEqual(len(top["snippet"].encode()), 300)
        self.assertEqual(set(top), {"chunk_id", "document_id", "document", "page", "heading",
                                    "snippet", "text", "score", "similarity"})
        self.assertIsNone(top["page"])
        # fused scores: best first, within (0, 1]
        scores = [i["score"] for i in items]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertTrue(all(0 < s <= 1 for s in scores))
        # first in both halves scores 1.0
        self.assertEqual(top["score"], 1.0)

    def test_paraphrased_query_finds_the_chunk_first(self):
        # no full-text match (websearch_to_tsquery ANDs every word): the
        # vector half alone ranks it
        q = "which town is the seat of government in zorbania nowadays"
        self.assertEqual(psql("SELECT count(*) FROM knowledge_chunks WHERE tsv @@ "
                              "websearch_to_tsquery('english', '%s')" % q), "0")
        r = search(A["token"], A["kb"], query=q)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["items"][0]["document"], "atlas.md")
        self.assertIn("Quuxville", r.json()["items"][0]["text"])

    def test_top_k_and_threshold(self):
        r = search(A["token"], A["kb"], query="fridge espresso", top_k=1)
        self.assertEqual(len(r.json()["items"]), 1)
        self.assertEqual(r.json()["items"][0]["document"], "kitchen.txt")
        r = search(A["token"], A["kb"], query="fridge espresso", top_k=3)
        self.assertEqual(len(r.json()["items"]), 3)
        r = search(A["token"], A["kb"], query="fridge espresso")
        self.assertEqual(len(r.json()["items"]), 4)      # default 5, four chunks exist
        sims = sorted(i["similarity"] for i in r.json()["items"])
        self.assertGreater(sims[2] - sims[1], 0.001, sims)
        cut = (sims[1] + sims[2]) / 2                   # drops the two least similar
        r = search(A["token"], A["kb"], query="fridge espresso", threshold=cut)
        self.assertEqual(r.status, 200, r)
        kept = r.json()["items"]
        self.assertEqual(len(kept), 2)
        self.assertTrue(all(i["similarity"] >= cut for i in kept))
        r = search(A["token"], A["kb"], query="fridge espresso", threshold=1)
        self.assertEqual(r.json()["items"], [])

    def test_validation(self):
        for body in ({}, {"query": ""}, {"query": "   "}, {"query": "x" * 2001},
                     {"query": "x", "top_k": 0}, {"query": "x", "top_k": 51},
                     {"query": "x", "top_k": "3"}, {"query": "x", "threshold": -0.1},
                     {"query": "x", "threshold": 1.5}):
            r = search(A["token"], A["kb"], **body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(r.json()["error"]["code"], "invalid_field", body)
        r = search(A["token"], A["kb"], query="é" * 2000, top_k=50, threshold=0)
        self.assertEqual(r.status, 200, r)

    def test_only_the_callers_bases(self):
        # another user's base is not found, as if it did not exist
        for kb in (B["kb"], "00000000-0000-4000-8000-000000000000", "nope"):
            r = search(A["token"], kb, query="lighthouse vault passphrase")
            self.assertEqual(r.status, 404, r)
            self.assertEqual(r.json()["error"]["code"], "knowledge_base_not_found")
        # and its chunks never appear in the caller's results
        r = search(A["token"], A["kb"], query="lighthouse vault passphrase Xylophone-Marmalade-77",
                   top_k=50)
        self.assertEqual(r.status, 200)
        self.assertNotIn("Xylophone", r.body.decode())
        # the owner finds it
        r = search(B["token"], B["kb"], query="lighthouse vault passphrase")
        self.assertIn("Xylophone-Marmalade-77", r.json()["items"][0]["text"])

    def test_documents_not_ready_are_never_returned(self):
        atlas = A["docs"]["atlas.md"]
        for status in ("failed", "processing", "queued"):
            doc = psql(
                "INSERT INTO documents (knowledge_base_id, owner_id, filename, content_type, "
                "size_bytes, status) VALUES ('%s', 'rag-a', 'ghost-%s.md', 'text/markdown', 10, "
                "'%s') RETURNING id" % (A["kb"], status, status)).splitlines()[0]
            # same embedding as the real chunk, and the same words plus a marker
            psql("INSERT INTO knowledge_chunks (knowledge_base_id, document_id, chunk_index, "
                 "text, embedding, heading, embedding_model) SELECT knowledge_base_id, '%s', 0, "
                 "text || ' Zebracorn ghost', embedding, heading, embedding_model "
                 "FROM knowledge_chunks WHERE document_id = '%s'" % (doc, atlas))
        for q in ("capital of Zorbania", "Zebracorn ghost", "Quuxville"):
            r = search(A["token"], A["kb"], query=q, top_k=50)
            self.assertEqual(r.status, 200)
            body = r.body.decode()
            self.assertNotIn("Zebracorn", body, q)
            self.assertNotIn("ghost-", body, q)
        # the marker alone matches only the ghosts: nothing at all
        r = search(A["token"], A["kb"], query="Zebracorn")
        self.assertNotIn("Zebracorn", r.body.decode())

    def test_mixed_embedding_models_are_refused(self):
        # two bases with different models cannot be searched together; the
        # only multi-base search is a RAG bot's, so build one by hand
        kb2 = make_kb(A["token"], "other model")
        psql("UPDATE knowledge_bases SET embedding_model = 'openai:other' WHERE id = '%s'" % kb2)
        bot = make_bot(A["token"], [A["kb"], kb2])
        s = stream(stack, {"bot_id": bot, "message": "capital of Zorbania?"}, A["token"])
        err = s.json()["error"]
        self.assertEqual(s.status, 400, err)
        self.assertEqual(err["code"], "embedding_model_mismatch")
        self.assertIn("different embedding models", err["message"])
        # and nothing was stored for the refused turn
        self.assertEqual(psql("SELECT count(*) FROM messages m JOIN chats c ON c.id = m.chat_id "
                              "WHERE c.bot_id = '%s'" % bot), "0")


class GroundedChat(unittest.TestCase):
    def test_citations_event_answer_and_storage(self):
        bot = make_bot(A["token"], [A["kb"]])
        s = stream(stack, {"bot_id": bot, "message": "What is the capital of Zorbania?"},
                   A["token"])
        self.assertEqual(s.status, 200)
        events = s.events()
        names = [e.type for e in events]
        self.assertEqual(names[:3], ["start", "citations", "message"], names)
        self.assertEqual(names.count("citations"), 1)
        self.assertEqual(names[-1], "done")
        cits = events[1].json()["citations"]
        self.assertGreaterEqual(len(cits), 1)
        self.assertLessEqual(len(cits), 5)
        self.assertEqual([c["n"] for c in cits], list(range(1, len(cits) + 1)))
        first = cits[0]
        self.assertEqual(first["document"], "atlas.md")
        self.assertEqual(first["document_id"], A["docs"]["atlas.md"])
        self.assertIn("Quuxville", first["snippet"])
        self.assertIsNone(first["page"])
        for key in ("heading", "score", "chunk_id"):
            self.assertIn(key, first)
        text = text_of(events)
        self.assertIn("offline model", text)
        self.assertIn("The capital of Zorbania is Quuxville", text)
        self.assertIn("[1]", text)
        self.assertLess(text.index("Quuxville"), text.index("[1]"))

        chat = events[0].json()["chat_id"]
        r = stack.request("GET", "/api/v1/chats/%s" % chat, token=A["token"])
        self.assertEqual(r.status, 200)
        msgs = r.json()["messages"]
        self.assertEqual([m["role"] for m in msgs], ["user", "assistant"])
        self.assertIsNone(msgs[0]["citations"])
        self.assertEqual(msgs[1]["citations"], cits)
        self.assertEqual(msgs[1]["content"], text)

    def test_nothing_relevant(self):
        bot = make_bot(A["token"], [A["kb"]])
        # the second shares only common words with the kitchen rules: the
        # local embedder rates it about 0.33, under the 0.35 floor
        for q in ("How long should sourdough bread proof overnight?",
                  "What is the weather like today?"):
            self.check_nothing_relevant(bot, q)

    def check_nothing_relevant(self, bot, message):
        s = stream(stack, {"bot_id": bot, "message": message}, A["token"])
        events = s.events()
        names = [e.type for e in events]
        self.assertEqual(names[:3], ["start", "citations", "message"], names)
        self.assertEqual(events[1].json(), {"citations": []})
        text = text_of(events)
        self.assertIn("offline model", text)
        self.assertIn("nothing in the documents", text)
        self.assertNotIn("[1]", text)
        chat = events[0].json()["chat_id"]
        msgs = stack.request("GET", "/api/v1/chats/%s" % chat, token=A["token"]).json()["messages"]
        self.assertEqual(msgs[1]["citations"], [])

    def test_a_bot_never_cites_another_users_documents(self):
        bot = make_bot(A["token"], [A["kb"]])
        s = stream(stack, {"bot_id": bot, "message": "What opens the vault beneath the "
                           "lighthouse? Xylophone-Marmalade-77"}, A["token"])
        body = "".join(e.data for e in s.events())
        self.assertNotIn("keeper", body)
        self.assertNotIn(B["doc"], body)

    def test_non_streaming_answer_has_citations(self):
        bot = make_bot(A["token"], [A["kb"]])
        r = stack.request("POST", "/api/v1/chat", body={
            "bot_id": bot, "message": "Who descales the espresso machine?"}, token=A["token"])
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["citations"][0]["document"], "kitchen.txt")
        self.assertIn("Priyanka", body["content"])
        self.assertIn("[1]", body["content"])

    def test_plain_bot_has_no_citations(self):
        for rag, kbs in ((False, [A["kb"]]), (True, [])):
            bot = make_bot(A["token"], kbs, rag=rag)
            s = stream(stack, {"bot_id": bot, "message": "What is the capital of Zorbania?"},
                       A["token"])
            events = s.events()
            names = [e.type for e in events]
            self.assertNotIn("citations", names)
            self.assertEqual(set(names[1:-1]), {"message"})
            text = text_of(events)
            self.assertNotIn("Quuxville", text)
            chat = events[0].json()["chat_id"]
            msgs = stack.request("GET", "/api/v1/chats/%s" % chat,
                                 token=A["token"]).json()["messages"]
            self.assertEqual([m["citations"] for m in msgs], [None, None])
            r = stack.request("POST", "/api/v1/chat", body={"bot_id": bot, "message": "hi"},
                              token=A["token"])
            self.assertIsNone(r.json()["citations"])


if __name__ == "__main__":
    unittest.main()
