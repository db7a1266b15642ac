"""A strict reader of the Prometheus text exposition format (0.0.4), for
the tests: every family described once (HELP, then TYPE, before its
samples), every sample inside its family, label values unescaped,
histograms' buckets cumulative and ending in +Inf equal to _count.
Prometheus' own promtool lints the same text in test_metrics.py.
"""

import math
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(\{(.*)\})? (\S+)$" % NAME)
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class FormatError(AssertionError):
    pass


def _unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\":
            n = v[i + 1]
            out.append({"\\": "\\", '"': '"', "n": "\n"}.get(n))
            if out[-1] is None:
                raise FormatError("bad escape \\%s" % n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _labels(text, lineno):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        if not m:
            raise FormatError("line %d: bad labels {%s}" % (lineno, text))
        if m.group(1) in labels:
            raise FormatError("line %d: label %s twice" % (lineno, m.group(1)))
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels


def _value(text, lineno):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        raise FormatError("line %d: bad value %r" % (lineno, text))


def parse(text):
    """{family: {"type", "help", "samples": [(name, labels, value)]}}"""
    if text and not text.endswith("\n"):
        raise FormatError("the text does not end with a newline")
    families, cur = {}, None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 and line.startswith("# TYPE"):
                raise FormatError("line %d: TYPE without a type" % lineno)
            name = parts[2]
            if not re.fullmatch(NAME, name):
                raise FormatError("line %d: bad name %r" % (lineno, name))
            fam = families.get(name)
            if fam is not None and fam is not cur:
                raise FormatError("line %d: family %s described again" % (lineno, name))
            if fam is None:
                fam = families[name] = {"type": None, "help": None, "samples": []}
            cur = fam
            key = "help" if parts[1] == "HELP" else "type"
            if fam[key] is not None:
                raise FormatError("line %d: second %s for %s" % (lineno, parts[1], name))
            if key == "type":
                if parts[3] not in TYPES:
                    raise FormatError("line %d: unknown type %r" % (lineno, parts[3]))
                if fam["samples"]:
                    raise FormatError("line %d: TYPE after samples" % lineno)
            fam[key] = parts[3] if len(parts) > 3 else ""
            cur_name = name
            continue
        if line.startswith("#") or line == "":
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise FormatError("line %d: not a sample: %r" % (lineno, line))
        name = m.group(1)
        if cur is None:
            raise FormatError("line %d: sample outside any family" % lineno)
        allowed = {cur_name}
        if cur["type"] == "histogram":
            allowed = {cur_name + s for s in ("_bucket", "_sum", "_count")}
        if name not in allowed:
            raise FormatError("line %d: %s inside family %s" % (lineno, name, cur_name))
        cur["samples"].append((name, _labels(m.group(3) or "", lineno),
                               _value(m.group(4), lineno)))
    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None:
            raise FormatError("family %s lacks HELP or TYPE" % name)
        if fam["type"] == "histogram":
            _check_histogram(name, fam["samples"])
    return families


def _check_histogram(name, samples):
    series = {}
    for sname, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            s["buckets"].append((_value(labels["le"], 0), value))
        elif sname.endswith("_sum"):
            s["sum"] = value
        else:
            s["count"] = value
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        if not les or les[-1] != math.inf or les != sorted(les):
            raise FormatError("%s%s: buckets out of order or no +Inf" % (name, key))
        if counts != sorted(counts):
            raise FormatError("%s%s: buckets not cumulative" % (name, key))
        if s["count"] != counts[-1] or s["sum"] is None:
            raise FormatError("%s%s: _count is not the +Inf bucket" % (name, key))


def value(families, name, **labels):
    """The sum of the samples called name whose labels include labels."""
    total = 0.0
    for fam in families.values():
        for sname, slabels, v in fam["samples"]:
            if sname == name and all(slabels.get(k) == w for k, w in labels.items()):
                total += v
    return total


def samples(families, name):
    return [(l, v) for fam in families.values() for n, l, v in fam["samples"] if n == name]
