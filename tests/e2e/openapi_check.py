"""The API's contract, checked on real traffic: every response the e2e
tests get for a documented route (shared/openapi.json) must have a status
that operation documents, and a JSON body that validates against that
status's schema; every event of a documented stream must be one of the
stream's `x-mangoo-events` and its data must validate against that event's
schema.  A mismatch raises AssertionError naming the route, the status and
the schema's complaint.  harness.Stack.request() checks every response,
sse_client.SseStream every event and every whole (error) body.

Schemas are JSON Schema draft 2020-12 (OpenAPI 3.1's dialect), checked with
python3-jsonschema (4.10 on Debian bookworm).  Their "#/components/schemas/X"
references are rewritten to "#/$defs/X" and every schema is validated with
those $defs beside it, so no reference resolver is needed."""

import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    # Debian's python3-jsonschema (auto-build.sh installs it) when python3
    # is another interpreter of the same version, e.g. a pyenv one
    sys.path.append("/usr/lib/python3/dist-packages")
    import jsonschema

DOC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "..", "shared", "openapi.json")


def _rewrite_refs(node):
    if isinstance(node, dict):
        return {k: ("#/$defs/" + v[len("#/components/schemas/"):]
                    if k == "$ref" and isinstance(v, str)
                    and v.startswith("#/components/schemas/")
                    else _rewrite_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(x) for x in node]
    return node


class Contract:
    def __init__(self, path=DOC_PATH):
        with open(path) as f:
            self.doc = json.load(f)
        self.defs = _rewrite_refs(self.doc["components"]["schemas"])
        self.routes = []        # (method, compiled path, template, operation)
        for template, item in self.doc["paths"].items():
            rx = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+",
                                         re.escape(template)) + "$")
            for method, op in item.items():
                self.routes.append((method.upper(), rx, template, op))
        self._validators = {}

    def _deref(self, node):
        """A response or parameter object behind a components $ref."""
        while isinstance(node, dict) and "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            node = self.doc
            for p in parts:
                node = node[p]
        return node

    def _validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        v = self._validators.get(key)
        if v is None:
            full = dict(_rewrite_refs(schema))
            full["$defs"] = self.defs
            v = jsonschema.Draft202012Validator(full)
            self._validators[key] = v
        return v

    def operation(self, method, path):
        """(template, operation) for a request, or (None, None).  The first
        match wins, as in the route table ("categories" before "{id}")."""
        path = path.split("?", 1)[0]
        for m, rx, template, op in self.routes:
            if m == method.upper() and rx.match(path):
                return template, op
        return None, None

    def _fail(self, method, template, status, what):
        raise AssertionError("OpenAPI: %s %s -> %s: %s"
                             % (method.upper(), template, status, what))

    def _check(self, schema, value, method, template, status, what):
        errors = sorted(self._validator(schema).iter_errors(value),
                        key=lambda e: list(e.absolute_path))
        if errors:
            e = errors[0]
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            self._fail(method, template, status,
                       "%s does not match the documented schema at %s: %s"
                       % (what, where, e.message[:500]))

    def check_response(self, method, path, status, content_type, body):
        """Check one whole response; returns the operation's template, or
        None when the route is not documented."""
        template, op = self.operation(method, path)
        if op is None:
            return None
        resp = op["responses"].get(str(status))
        if resp is None:
            self._fail(method, template, status, "status not documented (documented: %s); body %r"
                       % (", ".join(sorted(op["responses"])), body[:300]))
        resp = self._deref(resp)
        content = resp.get("content")
        ctype = (content_type or "").split(";")[0].strip().lower()
        if not content:
            if body:
                self._fail(method, template, status,
                           "documented without a body, got %d bytes of %s" % (len(body), ctype))
            return template
        if ctype not in content:
            self._fail(method, template, status, "content type %r not documented (documented: %s)"
                       % (ctype, ", ".join(sorted(content))))
        if ctype == "application/json":
            try:
                value = json.loads(body)
            except ValueError as e:
                self._fail(method, template, status, "body is not JSON: %s" % e)
            self._check(content[ctype].get("schema", {}), value, method, template,
                        status, "body")
        return template

    def stream_events(self, method, path, status):
        """The documented events of a streamed answer, {name: schema}, or
        None when it is not a documented stream."""
        template, op = self.operation(method, path)
        if op is None:
            return None
        resp = self._deref(op["responses"].get(str(status), {}))
        media = resp.get("content", {}).get("text/event-stream")
        return None if media is None else (template, media.get("x-mangoo-events", {}))

    def check_event(self, method, path, status, event_type, data):
        found = self.stream_events(method, path, status)
        if found is None:
            return
        template, events = found
        schema = events.get(event_type)
        if schema is None:
            self._fail(method, template, status, "event %r not documented (documented: %s)"
                       % (event_type, ", ".join(sorted(events))))
        try:
            value = json.loads(data)
        except ValueError as e:
            self._fail(method, template, status, "event %r data is not JSON: %s" % (event_type, e))
        self._check(schema, value, method, template, status, "event %r data" % event_type)


_contract = None


def contract():
    """The document, loaded once per process."""
    global _contract
    if _contract is None:
        _contract = Contract()
    return _contract


def enabled():
    """MANGOO_E2E_OPENAPI=0 turns the checks off (to see a test's own
    failure behind a contract one)."""
    return os.environ.get("MANGOO_E2E_OPENAPI", "1") != "0"


def check_response(method, path, status, content_type, body):
    if enabled():
        contract().check_response(method, path, status, content_type, body)


def check_event(method, path, status, event_type, data):
    if enabled():
        contract().check_event(method, path, status, event_type, data)
