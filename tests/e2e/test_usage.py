"""End-to-end tests of the usage reports: the caller's own days
(GET /api/v1/users/me/usage) and the administrators' per-user totals
(GET /api/v1/admin/usage), driven over HTTP against the real stack.

Usage rows are what chat turns write (one test makes a real turn); the
rest are inserted with psql (the users row exists after the first
authenticated request, which `user()` makes).  Admin tests each use days
of their own far in the past, so the report over their range holds only
their rows whatever else the suite writes.

The stack runs with MANGOO_DAILY_TOKEN_QUOTA=1000; run with
MANGOO_E2E_USAGE_QUOTA=0 to check the "no quota" answers instead.

Run: python3 tests/e2e/run.py test_usage.py
"""

import datetime
import os
import re
import sys
import unittest
import uuid
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

stack = None

QUOTA = int(os.environ.get("MANGOO_E2E_USAGE_QUOTA", "1000"))
RID_RE = re.compile(r"^[0-9a-f]{32}$")
ME_KEYS = {"from", "to", "days", "total", "today"}
DAY_KEYS = {"day", "requests", "input_tokens", "output_tokens"}
TOTAL_KEYS = {"requests", "input_tokens", "output_tokens"}
TODAY_KEYS = {"input_tokens", "output_tokens", "quota", "remaining"}
ADMIN_KEYS = {"from", "to", "items", "total", "next_cursor"}
ITEM_KEYS = {"user_id", "username", "requests", "input_tokens", "output_tokens"}
ZERO = {"requests": 0, "input_tokens": 0, "output_tokens": 0}


def setUpModule():
    global stack
    stack = Stack(workers=2, env={"MANGOO_DAILY_TOKEN_QUOTA": str(QUOTA),
                                  "MANGOO_LOCAL_DELAY_MS": "1"}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def q(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def d(s):
    return datetime.date.fromisoformat(s)


def shift(day, days):
    """day (YYYY-MM-DD) moved by days."""
    return (d(day) + datetime.timedelta(days=days)).isoformat()


class UsageTestCase(unittest.TestCase):
    maxDiff = None

    # -- helpers -------------------------------------------------------
    def sub(self, suffix=""):
        """A user id unique to this test (and suffix)."""
        return "usage-%s%s" % (self.id().rsplit(".", 1)[-1], suffix)

    def user(self, suffix="", **opts):
        """(id, token) of a user whose users row exists."""
        uid = self.sub(suffix)
        tok = stack.token(uid, **opts)
        self.assertEqual(stack.request("GET", "/api/v1/users/me", token=tok).status, 200)
        return uid, tok

    def admin(self):
        return stack.token(self.sub("-admin"), groups=["admin"])

    def today(self):
        return stack.psql("SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')")

    def put(self, uid, day, requests, inp, out):
        """Set uid's usage row of day (replacing what is there)."""
        stack.psql("INSERT INTO usage (user_id, day, requests, input_tokens, output_tokens) "
                   "VALUES (%s, %s::date, %d, %d, %d) ON CONFLICT (user_id, day) DO UPDATE "
                   "SET requests = EXCLUDED.requests, input_tokens = EXCLUDED.input_tokens, "
                   "output_tokens = EXCLUDED.output_tokens" % (q(uid), q(day), requests, inp, out))

    def assertJson(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertRegex(r.header("X-Request-Id") or "", RID_RE)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0], "application/json", r)
        return r.json()

    def assertError(self, r, status, code, mentions=None):
        body = self.assertJson(r, status)
        self.assertEqual(set(body), {"error"}, body)
        err = body["error"]
        self.assertEqual(err["code"], code, body)
        self.assertEqual(err["request_id"], r.header("x-request-id"))
        if mentions is not None:
            self.assertIn(mentions, err["message"], body)
        return err

    def me_usage(self, tok, query=""):
        return stack.request("GET", "/api/v1/users/me/usage" + query, token=tok)

    def report(self, tok, query=""):
        """users/me/usage's 200 body, its shape checked."""
        body = self.assertJson(self.me_usage(tok, query), 200)
        self.assertEqual(set(body), ME_KEYS, body)
        for day in body["days"]:
            self.assertEqual(set(day), DAY_KEYS, day)
        self.assertEqual(set(body["total"]), TOTAL_KEYS)
        self.assertEqual(set(body["today"]), TODAY_KEYS)
        days = [x["day"] for x in body["days"]]
        self.assertEqual(days, sorted(set(days)), "days oldest first, each once")
        for day in days:
            self.assertTrue(body["from"] <= day <= body["to"], (day, body))
        # the total is the days' sum
        self.assertEqual(body["total"], {k: sum(x[k] for x in body["days"]) for k in TOTAL_KEYS})
        return body

    def admin_usage(self, tok, query=""):
        return stack.request("GET", "/api/v1/admin/usage" + query, token=tok)

    def admin_report(self, tok, query=""):
        body = self.assertJson(self.admin_usage(tok, query), 200)
        self.assertEqual(set(body), ADMIN_KEYS, body)
        self.assertEqual(set(body["total"]), TOTAL_KEYS)
        for item in body["items"]:
            self.assertEqual(set(item), ITEM_KEYS, item)
        if body["next_cursor"] is not None:
            self.assertRegex(body["next_cursor"], r"^[A-Za-z0-9_-]+$")
        return body

    def expect_today(self, body, inp, out):
        want = {"input_tokens": inp, "output_tokens": out,
                "quota": QUOTA or None,
                "remaining": max(QUOTA - inp - out, 0) if QUOTA else None}
        self.assertEqual(body["today"], want)


# ---------------------------------------------------------------------------

class MeUsageTest(UsageTestCase):

    def test_new_user_defaults_to_the_last_30_days(self):
        _, tok = self.user()
        today = self.today()
        body = self.report(tok)
        self.assertEqual(body["to"], today)
        self.assertEqual(body["from"], shift(today, -29))
        self.assertEqual(body["days"], [])
        self.assertEqual(body["total"], ZERO)
        self.expect_today(body, 0, 0)

    def test_default_range_holds_exactly_30_days(self):
        uid, tok = self.user()
        today = self.today()
        self.put(uid, shift(today, -30), 5, 500, 50)       # one day too old
        self.put(uid, shift(today, -29), 1, 10, 1)         # the first day in
        self.put(uid, shift(today, -7), 2, 20, 2)
        self.put(uid, today, 3, 30, 3)
        self.put(uid, shift(today, 1), 7, 700, 70)         # tomorrow (a hand-made row)
        body = self.report(tok)
        self.assertEqual(body["days"], [
            {"day": shift(today, -29), "requests": 1, "input_tokens": 10, "output_tokens": 1},
            {"day": shift(today, -7), "requests": 2, "input_tokens": 20, "output_tokens": 2},
            {"day": today, "requests": 3, "input_tokens": 30, "output_tokens": 3},
        ])
        self.assertEqual(body["total"], {"requests": 6, "input_tokens": 60, "output_tokens": 6})
        self.expect_today(body, 30, 3)

    def test_explicit_range_is_inclusive_and_excludes_the_rest(self):
        uid, tok = self.user()
        for day, n in (("2024-02-27", 1), ("2024-02-28", 2), ("2024-02-29", 3),
                       ("2024-03-01", 4), ("2024-03-02", 5)):
            self.put(uid, day, n, 100 * n, 10 * n)
        body = self.report(tok, "?from=2024-02-28&to=2024-03-01")
        self.assertEqual((body["from"], body["to"]), ("2024-02-28", "2024-03-01"))
        self.assertEqual([x["day"] for x in body["days"]],
                         ["2024-02-28", "2024-02-29", "2024-03-01"])
        self.assertEqual(body["days"][1], {"day": "2024-02-29", "requests": 3,
                                           "input_tokens": 300, "output_tokens": 30})
        self.assertEqual(body["total"], {"requests": 9, "input_tokens": 900, "output_tokens": 90})
        # today is today whatever the range
        self.expect_today(body, 0, 0)

        # one day
        body = self.report(tok, "?from=2024-03-02&to=2024-03-02")
        self.assertEqual(body["days"], [{"day": "2024-03-02", "requests": 5,
                                         "input_tokens": 500, "output_tokens": 50}])
        # a range without usage
        body = self.report(tok, "?from=2023-01-01&to=2023-12-31")
        self.assertEqual((body["days"], body["total"]), ([], ZERO))
        # 366 days, the most: the whole leap year
        body = self.report(tok, "?from=2024-01-01&to=2024-12-31")
        self.assertEqual(len(body["days"]), 5)
        self.assertEqual(body["total"]["requests"], 15)

    def test_one_bound_defaults_the_other(self):
        uid, tok = self.user()
        today = self.today()
        self.put(uid, "2024-05-01", 1, 1, 1)
        self.put(uid, "2024-05-31", 1, 2, 2)
        self.put(uid, "2024-06-01", 1, 4, 4)
        # to alone: the 30 days up to it
        body = self.report(tok, "?to=2024-05-31")
        self.assertEqual((body["from"], body["to"]), ("2024-05-02", "2024-05-31"))
        self.assertEqual([x["day"] for x in body["days"]], ["2024-05-31"])
        # from alone: up to today
        body = self.report(tok, "?from=" + shift(today, -3))
        self.assertEqual((body["from"], body["to"]), (shift(today, -3), today))
        # empty values are not given
        body = self.report(tok, "?from=&to=")
        self.assertEqual((body["from"], body["to"]), (shift(today, -29), today))

    def test_today_quota_and_remaining(self):
        uid, tok = self.user()
        today = self.today()
        self.put(uid, shift(today, -1), 9, 5000, 5000)      # yesterday does not count
        self.put(uid, today, 4, 300, 200)
        self.expect_today(self.report(tok), 300, 200)
        self.expect_today(self.report(tok, "?from=2020-01-01&to=2020-01-02"), 300, 200)
        self.put(uid, today, 5, 900, 300)                   # over the quota: none left
        self.expect_today(self.report(tok), 900, 300)

    def test_a_chat_turn_is_counted(self):
        uid, tok = self.user()
        today = self.today()
        r = stack.request("POST", "/api/v1/bots", {"name": "Counter", "model_id": "local"},
                          token=tok)
        self.assertEqual(r.status, 201, r)
        bot = r.json()["id"]
        r = stack.request("POST", "/api/v1/chat", {"bot_id": bot, "message": "count me"},
                          token=tok, timeout=30)
        used = self.assertJson(r, 200)["usage"]
        self.assertGreater(used["input_tokens"] + used["output_tokens"], 0)
        body = self.report(tok)
        self.assertEqual(body["days"], [{"day": today, "requests": 1, **used}])
        self.expect_today(body, used["input_tokens"], used["output_tokens"])

    def test_rows_that_count_nothing_are_not_days(self):
        uid, tok = self.user()
        self.put(uid, "2024-07-01", 0, 0, 0)
        self.put(uid, "2024-07-02", 0, 0, 1)
        body = self.report(tok, "?from=2024-07-01&to=2024-07-31")
        self.assertEqual([x["day"] for x in body["days"]], ["2024-07-02"])

    def test_only_the_callers_usage(self):
        a, tok_a = self.user("-a")
        b, tok_b = self.user("-b")
        today = self.today()
        for day in ("2024-08-01", "2024-08-02", today):
            self.put(a, day, 1, 10, 1)
            self.put(b, day, 100, 10000, 1000)
        self.put(b, "2024-08-03", 100, 10000, 1000)      # a day only b has
        body = self.report(tok_a, "?from=2024-08-01&to=2024-08-31")
        self.assertEqual([x["day"] for x in body["days"]], ["2024-08-01", "2024-08-02"])
        self.assertEqual(body["total"], {"requests": 2, "input_tokens": 20, "output_tokens": 2})
        self.expect_today(body, 10, 1)
        # asking for another user is not a thing here: the parameter is ignored
        body2 = self.report(tok_a, "?from=2024-08-01&to=2024-08-31&user_id=" + quote(b))
        self.assertEqual(body2, body)
        # and b sees b's
        body = self.report(tok_b, "?from=2024-08-01&to=2024-08-31")
        self.assertEqual(body["total"], {"requests": 300, "input_tokens": 30000,
                                         "output_tokens": 3000})

    def test_bad_dates_and_ranges_are_400(self):
        _, tok = self.user()
        today = self.today()
        cases = [
            ("?from=2026-02-30", "query parameter \"from\" is not a calendar date: 2026-02-30"),
            ("?to=2025-02-29", "query parameter \"to\" is not a calendar date"),
            ("?from=2026-13-01", "\"from\" is not a calendar date"),
            ("?from=2026-00-10", "\"from\" is not a calendar date"),
            ("?to=0000-01-01", "\"to\" is not a calendar date"),
            ("?from=2026-1-1", "query parameter \"from\" must be a date as YYYY-MM-DD"),
            ("?from=yesterday", "\"from\" must be a date as YYYY-MM-DD"),
            ("?to=2026-01-01T00:00:00Z", "\"to\" must be a date as YYYY-MM-DD"),
            ("?to=20260101", "\"to\" must be a date"),
            ("?to=%2B2026-01-01", "\"to\" must be a date"),
            ("?from=%zz", "\"from\" must be a date"),
            ("?from=2026-01-01%00", "\"from\" must be a date"),
            ("?from=2026-03-02&to=2026-03-01",
             "\"from\" (2026-03-02) is after \"to\" (2026-03-01)"),
            ("?from=" + shift(today, 1), "\"from\" (%s) is after \"to\" (%s)"
             % (shift(today, 1), today)),
            ("?from=2025-01-01&to=2026-01-02",
             "the range may span at most 366 days; 2025-01-01 to 2026-01-02 is 367 days"),
            ("?from=" + shift(today, -366), "at most 366 days"),
            ("?from=0001-01-01&to=9999-12-31", "at most 366 days"),
        ]
        for query, mentions in cases:
            with self.subTest(query=query):
                self.assertError(self.me_usage(tok, query), 400, "invalid_query", mentions)
        # the largest range ending today is fine
        body = self.report(tok, "?from=" + shift(today, -365))
        self.assertEqual(body["to"], today)

    def test_no_token_is_401_and_writes_are_405(self):
        r = self.me_usage(None)
        self.assertError(r, 401, "unauthorized")
        _, tok = self.user()
        r = stack.request("POST", "/api/v1/users/me/usage", {}, token=tok)
        self.assertEqual(r.status, 405, r)


class AdminUsageTest(UsageTestCase):

    def range_users(self, year, spec):
        """Users named after this test with usage in year: spec is
        [(suffix, [(MM-DD, requests, input, output), ...])].  Returns their
        ids in the same order."""
        ids = []
        for suffix, rows in spec:
            uid, _ = self.user(suffix)
            for md, n, inp, out in rows:
                self.put(uid, "%04d-%s" % (year, md), n, inp, out)
            ids.append(uid)
        return ids

    def test_non_admin_is_refused(self):
        _, tok = self.user()
        self.assertError(self.admin_usage(tok), 403, "forbidden")
        self.assertError(self.admin_usage(stack.token(self.sub("-u"), groups=["users"])),
                         403, "forbidden")

    def test_biggest_token_users_first_with_totals(self):
        adm = self.admin()
        a, b, c, dd, e = self.range_users(1991, [
            ("-a", [("03-01", 1, 100, 0), ("03-05", 1, 0, 50)]),    # 150 tokens
            ("-b", [("03-02", 4, 200, 200)]),                       # 400
            ("-c", [("03-03", 2, 60, 40), ("02-28", 9, 9000, 9000), # 100 in range
                    ("03-06", 9, 9000, 9000)]),
            ("-d", [("03-04", 7, 150, 250)]),                       # 400, ties with b
            ("-e", [("04-01", 1, 1, 1)]),                           # outside
        ])
        body = self.admin_report(adm, "?from=1991-03-01&to=1991-03-05")
        self.assertEqual((body["from"], body["to"]), ("1991-03-01", "1991-03-05"))
        self.assertEqual(body["items"], [
            {"user_id": b, "username": b, "requests": 4, "input_tokens": 200,
             "output_tokens": 200},
            {"user_id": dd, "username": dd, "requests": 7, "input_tokens": 150,
             "output_tokens": 250},
            {"user_id": a, "username": a, "requests": 2, "input_tokens": 100,
             "output_tokens": 50},
            {"user_id": c, "username": c, "requests": 2, "input_tokens": 60,
             "output_tokens": 40},
        ])
        self.assertEqual(body["total"], {"requests": 15, "input_tokens": 510,
                                         "output_tokens": 540})
        self.assertIsNone(body["next_cursor"])
        self.assertNotIn(e, [x["user_id"] for x in body["items"]])

        # a range nobody used
        body = self.admin_report(adm, "?from=1991-01-01&to=1991-01-31")
        self.assertEqual((body["items"], body["total"], body["next_cursor"]), ([], ZERO, None))

    def test_usernames_are_the_users(self):
        adm = self.admin()
        uid, _ = self.user(username='Zoë "Quote" \\ O\'Neil')
        self.put(uid, "1992-05-05", 1, 5, 5)
        body = self.admin_report(adm, "?from=1992-05-01&to=1992-05-31")
        self.assertEqual(body["items"], [{"user_id": uid, "username": 'Zoë "Quote" \\ O\'Neil',
                                          "requests": 1, "input_tokens": 5,
                                          "output_tokens": 5}])

    def test_pages_across_three_pages(self):
        adm = self.admin()
        # 7 users; ties at 300 and at 100 straddle the page boundaries
        spec = [("-%d" % i, [("06-%02d" % (i + 1), 1, tok, 0)])
                for i, tok in enumerate((500, 300, 300, 300, 100, 100, 50))]
        ids = self.range_users(1993, spec)
        want = [ids[0]] + sorted(ids[1:4]) + sorted(ids[4:6]) + [ids[6]]
        rng = "?from=1993-06-01&to=1993-06-30&limit=3"
        seen, cursor, pages = [], None, 0
        while True:
            page = self.admin_report(adm, rng + ("&cursor=" + cursor if cursor else ""))
            self.assertLessEqual(len(page["items"]), 3)
            # every page carries the totals over everyone
            self.assertEqual(page["total"], {"requests": 7, "input_tokens": 1650,
                                             "output_tokens": 0})
            seen += [x["user_id"] for x in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, want)

        # the same with the default limit: one page
        page = self.admin_report(adm, "?from=1993-06-01&to=1993-06-30")
        self.assertEqual([x["user_id"] for x in page["items"]], want)
        self.assertIsNone(page["next_cursor"])

    def test_default_and_max_limit(self):
        adm = self.admin()
        prefix = "lim%s" % uuid.uuid4().hex[:8]
        values = ",".join("(%s, %s)" % (q("%s-%02d" % (prefix, i)), q("u%02d" % i))
                          for i in range(51))
        stack.psql("INSERT INTO users (id, username) VALUES " + values)
        stack.psql("INSERT INTO usage (user_id, day, requests, input_tokens, output_tokens) "
                   "SELECT id, DATE '1994-01-01', 1, 10, 0 FROM users WHERE id LIKE %s"
                   % q(prefix + "-%"))
        page = self.admin_report(adm, "?from=1994-01-01&to=1994-01-01")
        self.assertEqual(len(page["items"]), 50)
        self.assertIsNotNone(page["next_cursor"])
        self.assertEqual(page["total"], {"requests": 51, "input_tokens": 510, "output_tokens": 0})
        rest = self.admin_report(adm, "?from=1994-01-01&to=1994-01-01&cursor="
                                 + page["next_cursor"])
        self.assertEqual([x["user_id"] for x in rest["items"]], ["%s-50" % prefix])
        self.assertIsNone(rest["next_cursor"])
        page = self.admin_report(adm, "?from=1994-01-01&to=1994-01-01&limit=500")
        self.assertEqual(len(page["items"]), 51)
        self.assertIsNone(page["next_cursor"])

    def test_user_id_filter(self):
        adm = self.admin()
        a, b = self.range_users(1995, [
            ("-a", [("02-01", 2, 20, 2), ("02-02", 3, 30, 3)]),
            ("-b", [("02-01", 9, 900, 90)]),
        ])
        body = self.admin_report(adm, "?from=1995-02-01&to=1995-02-28&user_id=" + quote(a))
        self.assertEqual(body["items"], [{"user_id": a, "username": a, "requests": 5,
                                          "input_tokens": 50, "output_tokens": 5}])
        self.assertEqual(body["total"], {"requests": 5, "input_tokens": 50, "output_tokens": 5})
        self.assertIsNone(body["next_cursor"])
        # a user without usage in the range, and one that does not exist
        for who in (a, "no-such-user-%s" % uuid.uuid4().hex):
            body = self.admin_report(adm, "?from=1995-03-01&to=1995-03-31&user_id=" + quote(who))
            self.assertEqual((body["items"], body["total"]), ([], ZERO))
        # empty is no filter
        body = self.admin_report(adm, "?from=1995-02-01&to=1995-02-28&user_id=")
        self.assertEqual([x["user_id"] for x in body["items"]], [b, a])

    def test_default_range_is_the_last_30_days(self):
        adm = self.admin()
        uid, _ = self.user()
        today = self.today()
        self.put(uid, today, 1, 7, 7)
        self.put(uid, shift(today, -29), 1, 1, 1)
        self.put(uid, shift(today, -30), 1, 100, 100)
        body = self.admin_report(adm, "?user_id=" + quote(uid))
        self.assertEqual((body["from"], body["to"]), (shift(today, -29), today))
        self.assertEqual(body["items"], [{"user_id": uid, "username": uid, "requests": 2,
                                          "input_tokens": 8, "output_tokens": 8}])

    def test_bad_queries_are_400(self):
        adm = self.admin()
        for query, mentions in (
                ("?limit=0", "\"limit\""), ("?limit=501", "between 1 and 500"),
                ("?limit=x", "\"limit\""), ("?cursor=not*base64", "\"cursor\""),
                ("?cursor=MTJ1", "\"cursor\""), ("?user_id=%ff", "\"user_id\""),
                ("?user_id=%00", "\"user_id\""), ("?user_id=" + "a" * 1025, "\"user_id\""),
                ("?from=2026-02-30", "not a calendar date"),
                ("?to=2026/01/01", "\"to\" must be a date as YYYY-MM-DD"),
                ("?from=2026-02-01&to=2026-01-31", "is after"),
                ("?from=2020-01-01&to=2021-12-31", "at most 366 days")):
            with self.subTest(query=query):
                self.assertError(self.admin_usage(adm, query), 400, "invalid_query", mentions)
