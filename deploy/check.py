#!/usr/bin/env python3
"""Checks the monitoring artifacts in deploy/ against what Gatehouse exports.

    python3 deploy/check.py

Exits 1 (and says why) when:

- a PromQL expression in deploy/prometheus/gatehouse-alerts.yml or
  deploy/grafana/gatehouse-dashboard.json, or a series in the alert rules'
  unit tests, names a metric Gatehouse does not export, a label that metric
  does not carry, or a label value Gatehouse never writes (`result`,
  `grant_type`, `error`, `method`, `route`, `status`);
- an alert lacks `for`, a `severity` of critical or warning, or a summary,
  description or runbook_url; a runbook_url points to a file or heading
  that does not exist; an annotation names an alert that does not exist;
- docs/operations.md's alert table and the rule file name different alerts;
- a GATEHOUSE_* setting named in deploy/ is not in config.rs or
  docs/configuration.md;
- promtool is installed and `promtool check rules` / `promtool test rules`
  fails, or a dashboard query does not parse. Without promtool these are
  skipped, with a note.

The exported names are read from the source, not listed here, so renaming a
family in crates/server/src/metrics.rs without updating the artifacts fails
this check. Reading Rust with regular expressions is approximate: if the
source changes shape so that fewer families are found than expected, the
check fails and says so rather than passing on too little.

Needs PyYAML (`pip install pyyaml`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("deploy/check.py needs PyYAML: python3 -m pip install pyyaml")

ROOT = Path(__file__).resolve().parent.parent
METRICS_RS = ROOT / "crates/server/src/metrics.rs"
RULES = ROOT / "deploy/prometheus/gatehouse-alerts.yml"
RULE_TESTS = ROOT / "deploy/prometheus/gatehouse-alerts.test.yml"
DASHBOARD = ROOT / "deploy/grafana/gatehouse-dashboard.json"
OPERATIONS = ROOT / "docs/operations.md"

# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Series Prometheus itself writes for each target.
SYNTHETIC = {"up": set()}

UNIT_SUFFIX = {"Seconds": "seconds", "Bytes": "bytes"}
STRING = r'"(?:[^"\\]|\\.)*"'

problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)


def rel(path: Path) -> str:
    """path, relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# What Gatehouse exports, read from the source.


def label_structs(src: str) -> dict[str, list[str]]:
    """`#[derive(..., EncodeLabelSet)] struct Name { field: T, ... }`."""
    out = {}
    for m in re.finditer(
        r"#\[derive\([^)]*EncodeLabelSet[^)]*\)\]\s*struct\s+(\w+)\s*\{([^}]*)\}", src
    ):
        out[m.group(1)] = re.findall(r"(\w+)\s*:", m.group(2))
    return out


def exported_families() -> dict[str, set[str]]:
    """Every exposed series name (with `_total`, unit and histogram suffixes)
    mapped to the labels it carries."""
    src = read(METRICS_RS)
    structs = label_structs(src)
    # let requests = Family::<Request, Counter>::default();
    # let durations = Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(..)
    variables: dict[str, tuple[str, list[str]]] = {}
    for m in re.finditer(r"let\s+(\w+)\s*=\s*Family::<\s*(\w+)\s*,\s*(\w+)", src):
        var, struct, kind = m.groups()
        if struct not in structs:
            problem(f"metrics.rs: label struct {struct} of `{var}` not found")
        variables[var] = (kind, structs.get(struct, []))
    # let refresh_reuse = Counter::default();
    for m in re.finditer(r"let\s+(\w+)\s*=\s*(Counter|Gauge|Histogram)::default\(\)", src):
        variables[m.group(1)] = (m.group(2), [])

    families: dict[str, tuple[str, list[str], str | None]] = {}
    # registry.register("name", "help", var.clone())
    # registry.register_with_unit("name", "help", Unit::Seconds, var.clone())
    for m in re.finditer(
        r"\.register(?:_with_unit)?\(\s*\"(\w+)\"\s*,\s*" + STRING
        + r"\s*,\s*(?:Unit::(\w+)\s*,\s*)?(\w+)\.clone\(\)",
        src,
    ):
        name, unit, var = m.groups()
        if var not in variables:
            problem(f"metrics.rs: cannot tell the type of `{var}` ({name})")
            continue
        kind, labels = variables[var]
        families[name] = (kind, labels, unit)
    # Collectors: encoder.encode_descriptor("name", "help", unit, x.metric_type())
    # where x is a ConstCounter or ConstGauge.
    consts = dict(re.findall(r"let\s+(\w+)\s*=\s*Const(Counter|Gauge)::new", src))
    for m in re.finditer(
        r"encode_descriptor\(\s*\"(\w+)\"\s*,\s*" + STRING
        + r"\s*,\s*(None|Some\(&Unit::(\w+)\))\s*,\s*(\w+)\.metric_type\(\)",
        src,
    ):
        name, _, unit, var = m.groups()
        if var in consts:
            families[name] = (consts[var], [], unit)
    # The gauge table of the process collector:
    # ("process_threads", "help", None, value) / (.., Some(Unit::Bytes), ..)
    for m in re.finditer(
        r"\(\s*\"(process_\w+)\"\s*,\s*" + STRING + r"\s*,\s*(None|Some\(Unit::(\w+)\))\s*,",
        src,
    ):
        name, _, unit = m.groups()
        families[name] = ("Gauge", [], unit)

    series: dict[str, set[str]] = {}
    for name, (kind, labels, unit) in families.items():
        base = name
        if unit:
            if unit not in UNIT_SUFFIX:
                problem(f"metrics.rs: unit {unit} of {name} has no known suffix")
                continue
            base = f"{base}_{UNIT_SUFFIX[unit]}"
        labels = set(labels) | TARGET_LABELS
        if kind == "Counter":
            series[f"{base}_total"] = labels
        elif kind == "Gauge":
            series[base] = labels
        elif kind == "Histogram":
            series[f"{base}_bucket"] = labels | {"le"}
            series[f"{base}_sum"] = labels
            series[f"{base}_count"] = labels
        else:
            problem(f"metrics.rs: {name} has unknown type {kind}")
    # A floor, so that a source change the regexes miss cannot pass as
    # "nothing to check": 9 gatehouse_* families and 7 process_* ones today.
    gatehouse = [n for n in families if n.startswith("gatehouse_")]
    process = [n for n in families if n.startswith("process_")]
    if len(gatehouse) < 9 or len(process) < 7:
        problem(
            f"metrics.rs: found only {sorted(families)}; the source changed shape "
            "and deploy/check.py needs updating"
        )
    for name, labels in SYNTHETIC.items():
        series[name] = labels | TARGET_LABELS
    return series


def as_str_values(path: Path, type_name: str) -> set[str]:
    """The strings `fn as_str` of `impl type_name` maps to."""
    src = read(path)
    m = re.search(r"impl\s+" + type_name + r"\s*\{(.*?)\n\}", src, re.S)
    body = m.group(1) if m else ""
    f = re.search(r"fn as_str\b(.*?)\n    \}", body, re.S)
    values = set(re.findall(r'=>\s*"([^"]+)"', f.group(1) if f else ""))
    if not values:
        problem(f"{rel(path)}: no values found for {type_name}::as_str")
    return values


def closing(src: str, i: int) -> int:
    """The index of the bracket closing the one at src[i], skipping strings."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack, j = [], i
    while j < len(src):
        ch = src[j]
        if ch == '"':
            j += 1
            while j < len(src) and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
        elif ch in pairs:
            stack.append(pairs[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return j
        j += 1
    return len(src)


SRC = ROOT / "crates/server/src"


def config_fn(path: str) -> str:
    """The body of `fn name(cfg: &mut web::ServiceConfig)` named by a path
    such as `http::routes` or `api::admin_routes`."""
    *module, name = path.split("::")
    candidates = []
    if module:
        candidates = [SRC / f"{module[-1]}.rs", SRC / module[-1] / "mod.rs"]
        candidates += [p for p in SRC.rglob(f"{module[-1]}.rs")]
    for file in candidates:
        if file.is_file():
            src = read(file)
            m = re.search(r"fn\s+" + name + r"\s*\(\s*\w+\s*:\s*&mut\s+web::ServiceConfig", src)
            if m:
                start = src.index("{", m.end())
                return src[start:closing(src, start) + 1]
    problem(f"route patterns: cannot find the function {path}")
    return ""


def routes_in(body: str, prefix: str, depth: int = 0) -> set[str]:
    """The route patterns `body` registers under `prefix`: its routes and
    resources, its `.service(web::scope(..) ...)` calls (recursively, with
    the scope added) and the functions it `.configure(..)`s."""
    if depth > 8:
        return set()
    out, rest, last = set(), [], 0
    for m in re.finditer(r"\.service\(\s*web::scope\(\s*\"([^\"]*)\"\s*\)", body):
        if m.start() < last:
            continue  # inside a scope already read
        end = closing(body, m.start() + len(".service"))
        out |= routes_in(body[m.end():end], prefix + m.group(1), depth + 1)
        rest.append(body[last:m.start()])
        last = end + 1
    rest.append(body[last:])
    rest = "".join(rest)
    for lit in re.findall(r"\.route\(\s*\"([^\"]*)\"", rest):
        out.add(prefix + lit)
    for lit in re.findall(r"web::resource\(\s*\"([^\"]*)\"", rest):
        out.add(prefix + lit)
    for path in re.findall(r"\.configure\(\s*([\w:]+)\s*\)", rest):
        out |= routes_in(config_fn(path), prefix, depth + 1)
    return out


def fn_body(file: Path, name: str) -> str:
    """The body of `fn name(...)` in `file`, or "" (reported)."""
    src = read(file)
    m = re.search(r"fn\s+" + name + r"\s*\(", src)
    if not m:
        problem(f"route patterns: cannot find fn {name} in {file.relative_to(ROOT)}")
        return ""
    start = src.index("{", m.end())
    return src[start:closing(src, start) + 1]


def endpoint_table(file: Path, name: str, prefix: str) -> set[str]:
    """The paths of the `Endpoint`s a `fn name() -> Vec<Endpoint>` lists
    (crates/server/src/http: the tables both mounted and documented),
    under `prefix`, following `all.extend(module::endpoints())`."""
    body = fn_body(file, name)
    out = {prefix + lit for lit in re.findall(
        r"Endpoint::new\(\s*Method::\w+\s*,\s*\"([^\"]*)\"", body)}
    for module in re.findall(r"extend\(\s*(\w+)::endpoints\(\)\s*\)", body):
        out |= endpoint_table(SRC / "http" / f"{module}.rs", "endpoints", prefix)
    return out


def route_patterns() -> set[str]:
    """Route patterns that can appear as the `route` label: the endpoint
    tables `http::route_table` mounts (with their scopes), plus what
    startup.rs mounts itself (`/metrics`), plus `unmatched`."""
    http = SRC / "http" / "mod.rs"
    consts = dict(re.findall(r'pub const (\w+_SCOPE): &str = "([^"]*)";', read(http)))
    table = fn_body(http, "route_table")
    routes = routes_in(read(SRC / "startup.rs"), "")
    for scope, fn in re.findall(r'scoped\(\s*("[^"]*"|\w+)\s*,\s*([\w:]+)\(\)\s*\)', table):
        prefix = scope.strip('"') if scope.startswith('"') else consts.get(scope)
        if prefix is None:
            problem(f"route patterns: unknown scope {scope} in http::route_table")
            continue
        module, _, name = fn.rpartition("::")
        file = SRC / "http" / f"{module}.rs" if module else http
        routes |= endpoint_table(file, name, prefix)
    if not {"/api/v1/oauth/token", "/readyz", "/metrics"} <= routes:
        problem(f"route patterns: found only {sorted(routes)}; the source changed "
                "shape and deploy/check.py needs updating")
    return routes | {"unmatched"}


def label_values() -> dict[str, set[str] | re.Pattern]:
    metrics_src = read(METRICS_RS)
    m = re.search(r"fn method_label.*?\n\}", metrics_src, re.S)
    methods = set(re.findall(r'=>\s*"([^"]+)"', m.group(0) if m else ""))
    if not methods:
        problem("metrics.rs: no values found in method_label")
    return {
        "result": as_str_values(ROOT / "crates/core/src/observe.rs", "SignInResult"),
        "grant_type": as_str_values(ROOT / "crates/core/src/model/client.rs", "GrantType"),
        "error": as_str_values(ROOT / "crates/core/src/error.rs", "ErrorCode"),
        "method": methods,
        "route": route_patterns(),
        "status": re.compile(r"[1-5][0-9][0-9]"),
    }


# --------------------------------------------------------------------------
# A small PromQL reader: enough to find every metric name, every label
# matcher and every grouping label. It does not check syntax (promtool does).

AGGREGATORS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile",
}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan",
    "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "cos", "cosh", "count_over_time", "day_of_month", "day_of_week", "day_of_year",
    "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters",
    "hour", "idelta", "increase", "irate", "label_join", "label_replace",
    "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
    "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round",
    "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh",
    "time", "timestamp", "vector", "year",
}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "offset", "bool", "atan2"}

TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<dur>(?:\d+(?:ms|s|m|h|d|w|y))+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+|[Ii]nf|NaN)
  | (?P<var>\$\{?\w+\}?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},@])
    """,
    re.X,
)


def tokens(expr: str, where: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            problem(f"{where}: cannot read `{expr[pos:pos + 20]}` in: {expr}")
            return out
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


def unquote(s: str) -> str:
    if s[0] == "`":
        return s[1:-1]
    return bytes(s[1:-1], "utf-8").decode("unicode_escape")


class Checker:
    def __init__(self) -> None:
        self.series = exported_families()
        self.values = label_values()
        self.all_labels = set().union(*self.series.values())
        self.used: set[str] = set()

    def check_value(self, label: str, op: str, value: str, where: str) -> None:
        if op not in ("=", "!=") or "$" in value or label not in self.values:
            return  # regexes, dashboard variables and free labels
        allowed = self.values[label]
        ok = allowed.fullmatch(value) if isinstance(allowed, re.Pattern) else value in allowed
        if not ok:
            problem(f"{where}: {label}=\"{value}\" is a value Gatehouse never writes")

    def matchers(self, toks, i, metric, where) -> int:
        """Reads `{label op "value", ...}` from toks[i] == '{'; returns the
        index after '}'."""
        i += 1
        while i < len(toks) and toks[i][1] != "}":
            if toks[i][1] == ",":
                i += 1
                continue
            if i + 2 >= len(toks) or toks[i][0] != "ident" or toks[i + 2][0] != "str":
                problem(f"{where}: cannot read the label matchers of {metric}")
                return len(toks)
            label, op, value = toks[i][1], toks[i + 1][1], unquote(toks[i + 2][1])
            if metric in self.series and label not in self.series[metric]:
                problem(f"{where}: {metric} has no label `{label}` "
                        f"(it has {sorted(self.series[metric])})")
            self.check_value(label, op, value, where)
            i += 3
        return i + 1

    def expr(self, expr: str, where: str) -> None:
        toks = tokens(expr, where)
        i = 0
        while i < len(toks):
            kind, text = toks[i]
            nxt = toks[i + 1][1] if i + 1 < len(toks) else None
            if kind == "op" and text == "{":
                i = self.matchers(toks, i, None, where)
                continue
            if kind != "ident":
                i += 1
                continue
            if text in GROUPING:
                i += 1
                if nxt == "(":
                    i += 1
                    while i < len(toks) and toks[i][1] != ")":
                        label = toks[i][1]
                        if toks[i][0] == "ident" and label not in self.all_labels:
                            problem(f"{where}: `{text} ({label})`: no Gatehouse series "
                                    f"has the label `{label}`")
                        i += 1
                    i += 1
                continue
            if text in KEYWORDS:
                i += 1
                continue
            if text in AGGREGATORS or text in FUNCTIONS:
                i += 1
                continue
            if nxt == "(":
                problem(f"{where}: unknown function {text}()")
                i += 1
                continue
            # A metric name.
            self.used.add(text)
            if text not in self.series:
                problem(f"{where}: {text} is not a metric Gatehouse exports")
            i += 1
            if nxt == "{":
                i = self.matchers(toks, i, text, where)


# --------------------------------------------------------------------------
# The files.


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", read(md), re.M)}


def check_rules(c: Checker) -> tuple[list[str], list[str]]:
    doc = yaml.safe_load(read(RULES))
    alerts, exprs = [], []
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            where = f"{rel(RULES)}: {name}"
            c.expr(str(rule["expr"]), where)
            exprs.append(str(rule["expr"]))
            if "alert" not in rule:
                continue
            if name in alerts:
                problem(f"{where}: defined twice")
            alerts.append(name)
            if "for" not in rule:
                problem(f"{where}: no `for:`")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                problem(f"{where}: severity must be critical or warning")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    problem(f"{where}: no {key} annotation")
            url = ann.get("runbook_url", "")
            if url and "://" not in url:
                file, _, anchor = url.partition("#")
                target = ROOT / file
                if not target.is_file():
                    problem(f"{where}: runbook_url {url}: no file {file}")
                elif anchor and anchor not in anchors(target):
                    problem(f"{where}: runbook_url {url}: no heading #{anchor} in {file}")
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            text = " ".join(str(v) for v in rule.get("annotations", {}).values())
            for ref in set(re.findall(r"\bGatehouse[A-Z]\w+", text)):
                if ref not in alerts:
                    problem(f"{rel(RULES)}: {rule.get('alert')} mentions "
                            f"{ref}, which is not an alert")
    return alerts, exprs


def check_rule_tests(c: Checker) -> None:
    doc = yaml.safe_load(read(RULE_TESTS))
    for test in doc.get("tests", []):
        where = f"{rel(RULE_TESTS)}: {test.get('name')}"
        for s in test.get("input_series", []):
            c.expr(s["series"], where)


def dashboard_exprs(node, path="") -> list[tuple[str, str]]:
    """(where, expr) for every panel target and every query variable."""
    out = []
    if isinstance(node, dict):
        title = node.get("title") or node.get("name") or path
        if isinstance(node.get("expr"), str):
            out.append((f"panel {title!r}", node["expr"]))
        if node.get("type") == "query":
            q = node.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            if isinstance(q, str):
                out.append((f"variable {node.get('name')!r}", q))
        for v in node.values():
            out += dashboard_exprs(v, title)
    elif isinstance(node, list):
        for v in node:
            out += dashboard_exprs(v, path)
    return out


def check_dashboard(c: Checker) -> list[str]:
    doc = json.loads(read(DASHBOARD))
    exprs = []
    for where, expr in dashboard_exprs(doc):
        where = f"{rel(DASHBOARD)}: {where}"
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", expr, re.S)
        if m:  # Grafana's label_values(selector, label)
            c.expr(m.group(1), where)
            if m.group(2) not in c.all_labels:
                problem(f"{where}: no Gatehouse series has the label `{m.group(2)}`")
            continue
        c.expr(expr, where)
        exprs.append(expr)
    return exprs


def check_alert_table(alerts: list[str]) -> None:
    """The alert table in docs/operations.md names exactly the rules' alerts."""
    text = read(OPERATIONS)
    documented = set(re.findall(r"^\|\s*`(Gatehouse\w+)`\s*\|", text, re.M))
    for a in sorted(set(alerts) - documented):
        problem(f"docs/operations.md: alert {a} is missing from the alert table")
    for a in sorted(documented - set(alerts)):
        problem(f"docs/operations.md: the alert table names {a}, which is not in the rules")


def check_settings() -> None:
    known = set(re.findall(r"GATEHOUSE_[A-Z0-9_]+", read(ROOT / "crates/server/src/config.rs")))
    known |= set(re.findall(r"GATEHOUSE_[A-Z0-9_]+", read(ROOT / "docs/configuration.md")))
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".json", ".md"):
            for name in sorted(set(re.findall(r"GATEHOUSE_[A-Z0-9_]+", read(path)))):
                if name not in known:
                    problem(f"{rel(path)}: {name} is not a Gatehouse setting")


def grafana_to_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced, for promtool."""
    for var, value in {
        "$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
        "$job": "gatehouse", "$instance": ".+", "$route": ".+",
    }.items():
        expr = expr.replace(var, value)
    return expr


def run_promtool(dashboard: list[str]) -> None:
    promtool = shutil.which("promtool")
    if not promtool:
        print("note: promtool not found; `promtool check rules` and `promtool test "
              "rules` skipped (Debian: apt-get install prometheus)")
        return
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        r = subprocess.run([promtool, *args], capture_output=True, text=True)
        if r.returncode != 0:
            problem(f"promtool {' '.join(args[:2])} failed:\n{r.stdout}{r.stderr}")
        else:
            print(f"promtool {' '.join(args[:2])}: ok")
    # Dashboard queries parsed as recording rules.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(e)}
        for i, e in enumerate(dashboard)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
    r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    Path(f.name).unlink()
    if r.returncode != 0:
        problem(f"a dashboard query does not parse:\n{r.stdout}{r.stderr}")
    else:
        print(f"promtool: {len(dashboard)} dashboard queries parse")


def main() -> int:
    c = Checker()
    alerts, _ = check_rules(c)
    check_rule_tests(c)
    dashboard = check_dashboard(c)
    check_alert_table(alerts)
    check_settings()
    run_promtool(dashboard)
    unused = sorted(n for n in c.series if n not in c.used and not n.endswith(("_sum", "_count")))
    print(f"{len(alerts)} alerts, {len(dashboard)} dashboard queries; "
          f"metrics used: {len(c.used)}; exported but unused: {', '.join(unused) or 'none'}")
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
