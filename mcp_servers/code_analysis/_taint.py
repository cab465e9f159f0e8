"""Intra-file taint tracking for Python: web/CLI sources to dangerous sinks.

The engine walks each function's statements in order with an environment from
variable to taint value. Branches are analysed separately with the facts their
condition establishes (``if host not in ALLOWED: abort(400)`` cleans ``host`` after
the ``if``) and joined afterwards; loops run until their environment stops changing
(at most twice). Calls to functions defined in the same file use summaries (which
parameters reach which sinks, which flow to the return value), computed in a first
pass, so a route that hands ``request.args`` to a helper that formats SQL is found.

Besides findings, the engine records a verdict for every sink it looks at
(tainted, unknown, sanitised, constant): the merge step uses them to demote
pattern-only alarms from other analysers whose arguments are constants,
parameterised or sanitised.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import VERDICT_ORDER, Finding, SinkCheck, Verdict
from mcp_servers.code_analysis._pyast import (
    ModuleIndex,
    argument,
    dotted,
    end_line,
    is_false,
    is_literal,
    is_true,
    keyword,
    literal_str,
    qualify,
)
from mcp_servers.code_analysis._taint_model import (
    ALL_CLEAN_CALLS,
    CLEAN_ANNOTATIONS,
    CMD,
    CODE,
    DESER,
    DJANGO_VIEW_METHODS,
    EVERYTHING,
    FLASK_REQUEST,
    INFO,
    INJECTION,
    LDAP,
    LOCAL_SOURCE_CALLS,
    NON_DATA_METHODS,
    NORETURN,
    NORMALISING,
    PASSTHROUGH_CALLS,
    PATH,
    REDIRECT,
    REGEX,
    REQUEST_ANNOTATIONS,
    REQUEST_CLEAN_ATTRS,
    ROUTE_DECORATORS,
    SANITISERS,
    SINK_KINDS,
    SQL,
    SSRF,
    STRING_METHODS,
    TEMPLATE,
    TRUST,
    TRUSTED_RESULT_PREFIXES,
    VALIDATOR_NAME_WORDS,
    XML,
    XPATH,
    XSS,
    Origin,
    Summary,
    Taint,
    error_source,
    source,
    union,
)

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

_FIXED_HOST = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^/?#{}%\s]+[/?#]")
_HTML_TYPES = ("text/html", "application/xhtml")

_SUBPROCESS = frozenset(
    {
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
    }
)
_SHELL_ALWAYS = frozenset(
    {
        "os.system",
        "os.popen",
        "os.popen2",
        "os.popen3",
        "os.popen4",
        "commands.getoutput",
        "commands.getstatusoutput",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "asyncio.create_subprocess_shell",
    }
)
_PATH_FUNCS: dict[str, tuple[tuple[int, str], ...]] = {
    "open": ((0, "file"),),
    "builtins.open": ((0, "file"),),
    "io.open": ((0, "file"),),
    "codecs.open": ((0, "filename"),),
    "os.open": ((0, "path"),),
    "os.remove": ((0, "path"),),
    "os.unlink": ((0, "path"),),
    "os.rmdir": ((0, "path"),),
    "os.removedirs": ((0, "name"),),
    "os.mkdir": ((0, "path"),),
    "os.makedirs": ((0, "name"),),
    "os.listdir": ((0, "path"),),
    "os.scandir": ((0, "path"),),
    "os.rename": ((0, "src"), (1, "dst")),
    "os.replace": ((0, "src"), (1, "dst")),
    "os.chmod": ((0, "path"),),
    "os.truncate": ((0, "path"),),
    "shutil.copy": ((0, "src"), (1, "dst")),
    "shutil.copy2": ((0, "src"), (1, "dst")),
    "shutil.copyfile": ((0, "src"), (1, "dst")),
    "shutil.copytree": ((0, "src"), (1, "dst")),
    "shutil.move": ((0, "src"), (1, "dst")),
    "shutil.rmtree": ((0, "path"),),
    "flask.send_file": ((0, "path_or_file"),),
    "flask.helpers.send_file": ((0, "path_or_file"),),
    "starlette.responses.FileResponse": ((0, "path"),),
    "fastapi.responses.FileResponse": ((0, "path"),),
    "aiofiles.open": ((0, "file"),),
}
_PATH_METHODS = frozenset(
    {
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "unlink",
        "rmdir",
        "mkdir",
        "touch",
        "iterdir",
        "rglob",
    }
)
_REDIRECTS = frozenset(
    {
        "flask.redirect",
        "quart.redirect",
        "werkzeug.utils.redirect",
        "django.shortcuts.redirect",
        "django.http.HttpResponseRedirect",
        "django.http.HttpResponsePermanentRedirect",
        "django.http.response.HttpResponseRedirect",
        "starlette.responses.RedirectResponse",
        "fastapi.responses.RedirectResponse",
    }
)
_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "stream"})
_HTTP_MODULES = ("requests", "httpx")
_URLOPEN = frozenset(
    {
        "urllib.request.urlopen",
        "urllib.request.Request",
        "urllib.urlopen",
        "urllib2.urlopen",
        "urllib2.Request",
    }
)
_LXML_PARSE = frozenset(
    {"lxml.etree.fromstring", "lxml.etree.parse", "lxml.etree.XML", "lxml.etree.iterparse"}
)
_STDLIB_XML = frozenset(
    {
        f"{mod}.{fn}"
        for mod in ("xml.etree.ElementTree", "xml.etree.cElementTree")
        for fn in ("fromstring", "parse", "XML", "iterparse", "fromstringlist")
    }
    | {
        "xml.dom.minidom.parse",
        "xml.dom.minidom.parseString",
        "xml.dom.pulldom.parse",
        "xml.dom.pulldom.parseString",
        "xml.sax.parse",
        "xml.sax.parseString",
        "xml.dom.expatbuilder.parse",
        "xml.dom.expatbuilder.parseString",
    }
)
_DESER = frozenset(
    {
        f"{mod}.{fn}"
        for mod in ("pickle", "_pickle", "cPickle", "dill", "cloudpickle")
        for fn in ("loads", "load", "Unpickler")
    }
    | {
        "jsonpickle.decode",
        "jsonpickle.loads",
        "jsonpickle.unpickler.decode",
        "marshal.loads",
        "marshal.load",
        "shelve.open",
        "pandas.read_pickle",
        "joblib.load",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
    }
)
_YAML_SAFE_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
_REGEX_FUNCS = frozenset(
    {
        f"{mod}.{fn}"
        for mod in ("re", "regex")
        for fn in (
            "compile",
            "search",
            "match",
            "fullmatch",
            "findall",
            "finditer",
            "split",
            "sub",
            "subn",
        )
    }
)
_MARKUP = frozenset(
    {
        "markupsafe.Markup",
        "flask.Markup",
        "jinja2.Markup",
        "django.utils.safestring.mark_safe",
        "django.utils.safestring.SafeString",
        "django.utils.safestring.SafeText",
    }
)
_DJANGO_HTML_RESPONSES = frozenset(
    {
        "HttpResponse",
        "HttpResponseBadRequest",
        "HttpResponseNotFound",
        "HttpResponseForbidden",
        "HttpResponseServerError",
        "HttpResponseGone",
    }
)
_STARLETTE_RESPONSES = frozenset(
    {
        "Response",
        "HTMLResponse",
        "PlainTextResponse",
        "JSONResponse",
        "ORJSONResponse",
        "UJSONResponse",
    }
)
_HTTP_EXCEPTIONS = frozenset(
    {
        "fastapi.HTTPException",
        "starlette.exceptions.HTTPException",
        "fastapi.exceptions.HTTPException",
    }
)
_LDAP_SEARCH = frozenset({"search", "search_s", "search_st", "search_ext", "search_ext_s"})
_LDAP_DN = frozenset(
    {
        "simple_bind_s",
        "simple_bind",
        "bind_s",
        "bind",
        "modify_s",
        "delete_s",
        "add_s",
        "rename_s",
        "compare_s",
        "modify",
        "delete",
        "add",
    }
)
_PYTHON_LDAP_ONLY = frozenset({"search_s", "search_st", "search_ext_s", "simple_bind_s", "bind_s"})
_XPATH_FUNCS = frozenset({"lxml.etree.XPath", "lxml.etree.ETXPath"})
_ELEMENT_FIND = frozenset({"find", "findall", "findtext", "iterfind"})
_HTTP_CLIENTS = frozenset(
    {
        "requests.Session",
        "requests.session",
        "requests.sessions.Session",
        "httpx.Client",
        "httpx.AsyncClient",
        "aiohttp.ClientSession",
        "urllib3.PoolManager",
    }
)
_XML_NODES = frozenset(
    {
        f"{mod}.{fn}"
        for mod in (
            "xml.etree.ElementTree",
            "xml.etree.cElementTree",
            "lxml.etree",
            "defusedxml.ElementTree",
            "defusedxml.lxml",
        )
        for fn in ("parse", "fromstring", "XML", "ElementTree", "HTML")
    }
)
_RESPONSE_MAKERS = frozenset(
    {"flask.make_response", "flask.jsonify", "flask.Response", "werkzeug.wrappers.Response"}
)


@dataclass
class _State:
    taint: dict[str, Taint] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    normalized: set[str] = field(default_factory=set)
    consts: set[str] = field(default_factory=set)
    regex: dict[str, str] = field(default_factory=dict)
    parsers: dict[str, str] = field(default_factory=dict)
    first: dict[str, ast.expr] = field(default_factory=dict)

    def copy(self) -> _State:
        return _State(
            dict(self.taint),
            dict(self.types),
            dict(self.derived),
            set(self.normalized),
            set(self.consts),
            dict(self.regex),
            dict(self.parsers),
            dict(self.first),
        )

    def merge(self, other: _State) -> _State:
        taint: dict[str, Taint] = {}
        for key in self.taint.keys() | other.taint.keys():
            value = union(self.taint.get(key), other.taint.get(key))
            if value is not None:
                taint[key] = value
        return _State(
            taint,
            {**other.types, **self.types},
            {**other.derived, **self.derived},
            self.normalized | other.normalized,
            self.consts & other.consts,
            {**other.regex, **self.regex},
            {**other.parsers, **self.parsers},
            {**other.first, **self.first},
        )

    def replace(self, other: _State) -> None:
        self.taint, self.types, self.derived = other.taint, other.types, other.derived
        self.normalized, self.consts, self.regex = other.normalized, other.consts, other.regex
        self.parsers, self.first = other.parsers, other.first

    def signature(self) -> frozenset[tuple[str, frozenset[str], int]]:
        return frozenset((k, v.kinds, len(v.origins)) for k, v in self.taint.items())


@dataclass
class _Frame:
    key: str | None
    cls: str | None
    kind: str  # module | function | route | view | cli
    framework: str | None = None
    html_route: bool = False
    returns: list[Taint | None] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)


class TaintEngine:
    def __init__(self, index: ModuleIndex) -> None:
        tree, imports = index.tree, index.imports
        self.tree = tree
        self.imports = imports
        self.global_names = index.global_names
        self.findings: dict[tuple[int, int], Finding] = {}
        self.checks: dict[tuple[int, str], SinkCheck] = {}
        self.summaries: dict[str, Summary] = {}
        self.functions: dict[str, FunctionNode] = {}
        self.params: dict[str, list[str]] = {}
        self.module_state = _State()
        self.module_consts: dict[str, ast.expr] = {}
        self.final = False
        self.uses_fastapi = imports.uses("fastapi") or imports.uses("starlette")
        self.uses_flask = imports.uses("flask") or imports.uses("quart")
        self.uses_jinja = imports.uses("jinja2")
        self._pairs = index.functions
        self._classes: dict[str, ast.ClassDef | None] = {}
        self._done: set[int] = set()
        self._in_progress: set[str] = set()
        self._on_demand = False
        for fn, cls in self._pairs:
            key = f"{cls.name}.{fn.name}" if cls else fn.name
            self.functions[key] = fn  # a later definition replaces an earlier one, as in Python
            self._classes[key] = cls
            self.params[key] = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]

    # ------------------------------------------------------------------ driver

    def run(self) -> tuple[list[Finding], list[SinkCheck]]:
        """One pass: a helper is analysed (for its summary) the first time a caller needs it."""
        self._scan_module_constants()
        self.final = True
        # Module-level code first, for the globals' types; functions see them.
        self._exec_block(self.tree.body, self.module_state, _Frame(None, None, "module"))
        self._on_demand = True
        for fn, cls in self._pairs:
            if id(fn) not in self._done:
                self._analyse_function(fn, cls)
        # Again, now that helpers have summaries (`main(sys.argv[1])` at the bottom).
        self._exec_block(self.tree.body, _State(), _Frame(None, None, "module"))
        return list(self.findings.values()), list(self.checks.values())

    def _scan_module_constants(self) -> None:
        counts: dict[str, int] = {}
        values: dict[str, ast.expr] = {}
        for stmt in self.tree.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            for target in targets:
                if isinstance(target, ast.Name):
                    counts[target.id] = counts.get(target.id, 0) + 1
                    if value is not None:
                        values[target.id] = value
        for name in self.global_names:
            counts[name] = 99
        for name, count in counts.items():
            value = values.get(name)
            if count == 1 and value is not None and self._literalish(value):
                self.module_consts[name] = value

    def _literalish(self, node: ast.expr) -> bool:
        if is_literal(node):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(
                isinstance(v, ast.Constant)
                or (isinstance(v, ast.FormattedValue) and self._literalish(v.value))
                for v in node.values
            )
        if isinstance(node, ast.BinOp):
            return self._literalish(node.left) and self._literalish(node.right)
        if isinstance(node, ast.Name):
            return node.id in self.module_consts
        return False

    # ------------------------------------------------------------------ functions

    def _analyse_function(self, fn: FunctionNode, cls: ast.ClassDef | None) -> None:
        key = f"{cls.name}.{fn.name}" if cls else fn.name
        self._done.add(id(fn))
        self._in_progress.add(key)
        try:
            self._analyse_body(fn, cls, key)
        finally:
            self._in_progress.discard(key)

    def _analyse_body(self, fn: FunctionNode, cls: ast.ClassDef | None, key: str) -> None:
        frame = self._frame_for(fn, cls, key)
        state = _State()
        positional = [*fn.args.posonlyargs, *fn.args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(fn.args.defaults)) + list(
            fn.args.defaults
        )
        clean_path_params = self._typed_route_params(fn)
        for index, arg in enumerate(positional):
            name = arg.arg
            annotation = self._annotation(arg.annotation)
            if index == 0 and cls is not None and name in ("self", "cls"):
                continue
            if annotation in REQUEST_ANNOTATIONS or name in ("request", "req"):
                state.types[name] = "request"
                continue
            if frame.kind in ("route", "view", "cli"):
                default = defaults[index]
                depends = isinstance(default, ast.Call) and (dotted(default.func) or "").split(".")[
                    -1
                ] in ("Depends", "Security")
                if annotation in CLEAN_ANNOTATIONS or depends or name in clean_path_params:
                    continue
                if annotation.split(".")[-1] == "Response":
                    continue
                remote = frame.kind != "cli"
                label = (
                    f"command-line option '{name}'" if not remote else f"request parameter '{name}'"
                )
                state.taint[name] = source(label, fn.lineno, remote=remote)
                continue
            origin = Origin(f"parameter '{name}'", fn.lineno, param=index)
            state.taint[name] = Taint(EVERYTHING, frozenset({origin}))
        for arg in fn.args.kwonlyargs:
            if frame.kind in ("route", "view"):
                annotation = self._annotation(arg.annotation)
                if annotation not in CLEAN_ANNOTATIONS and annotation not in REQUEST_ANNOTATIONS:
                    state.taint[arg.arg] = source(f"request parameter '{arg.arg}'", fn.lineno)
        self._exec_block(fn.body, state, frame)
        summary = frame.summary
        for value in frame.returns:
            if value is None:
                continue
            for origin in value.params():
                summary.returns[origin.param] = (
                    summary.returns.get(origin.param, frozenset()) | value.kinds
                )
            src = value.sources()
            if src:
                summary.return_source = union(
                    summary.return_source, Taint(value.kinds, src, value.steps)
                )
        if self.functions.get(key) is fn:
            self.summaries[key] = summary

    def _frame_for(self, fn: FunctionNode, cls: ast.ClassDef | None, key: str) -> _Frame:
        params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
        for deco in fn.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            name = qualify(target, self.imports) or ""
            last = name.split(".")[-1]
            if name.startswith("click.") or (
                last in ("command", "option", "argument") and self.imports.uses("click")
            ):
                return _Frame(key, cls.name if cls else None, "cli")
            if (
                isinstance(deco, ast.Call)
                and last in ROUTE_DECORATORS
                and isinstance(target, ast.Attribute)
            ):
                framework = "fastapi" if self.uses_fastapi else "flask"
                html = False
                response_class = keyword(deco, "response_class")
                if response_class is not None and "HTML" in (dotted(response_class) or ""):
                    html = True
                return _Frame(key, cls.name if cls else None, "route", framework, html)
        if cls is None and params[:1] == ["request"]:
            return _Frame(key, None, "view", "django")
        if cls is not None and params[1:2] == ["request"] and fn.name in DJANGO_VIEW_METHODS:
            return _Frame(key, cls.name, "view", "django")
        return _Frame(key, cls.name if cls else None, "function")

    def _typed_route_params(self, fn: FunctionNode) -> set[str]:
        names: set[str] = set()
        for deco in fn.decorator_list:
            if isinstance(deco, ast.Call) and deco.args:
                rule = literal_str(deco.args[0])
                if rule:
                    names.update(re.findall(r"<(?:int|float|uuid):(\w+)>", rule))
        return names

    def _annotation(self, node: ast.expr | None) -> str:
        if node is None:
            return ""
        if isinstance(node, ast.Subscript):
            base = dotted(node.value) or ""
            if base.split(".")[-1] in ("Annotated", "Optional"):
                inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
                return self._annotation(inner)
            return base
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            left = self._annotation(node.left)
            return left if left != "None" else self._annotation(node.right)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return dotted(node) or ""

    # ------------------------------------------------------------------ statements

    def _exec_block(self, body: list[ast.stmt], st: _State, frame: _Frame) -> bool:
        return any(self._exec_stmt(stmt, st, frame) for stmt in body)

    def _exec_stmt(self, stmt: ast.stmt, st: _State, frame: _Frame) -> bool:
        if isinstance(stmt, ast.Assign):
            value = self._eval(stmt.value, st, frame)
            for target in stmt.targets:
                self._assign(target, stmt.value, value, st, frame)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self._assign(stmt.target, stmt.value, self._eval(stmt.value, st, frame), st, frame)
        elif isinstance(stmt, ast.AugAssign):
            value = union(self._eval(stmt.target, st, frame), self._eval(stmt.value, st, frame))
            self._assign(stmt.target, None, value, st, frame)
        elif isinstance(stmt, ast.Expr):
            self._eval(stmt.value, st, frame)
            if isinstance(stmt.value, ast.Call) and self._is_noreturn(stmt.value, st):
                return True
        elif isinstance(stmt, ast.Return):
            value = self._eval(stmt.value, st, frame) if stmt.value is not None else None
            frame.returns.append(value)
            if stmt.value is not None:
                self._check_return(stmt, stmt.value, value, st, frame)
            return True
        elif isinstance(stmt, ast.Raise):
            if stmt.exc is not None:
                self._eval(stmt.exc, st, frame)
            return True
        elif isinstance(stmt, ast.Continue | ast.Break):
            return True
        elif isinstance(stmt, ast.If):
            return self._exec_if(stmt, st, frame)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            items = self._eval(stmt.iter, st, frame)
            target = stmt.target

            def bind(s: _State) -> None:
                self._assign(target, None, items, s, frame)

            self._loop(stmt.body, st, frame, bind)
            self._exec_block(stmt.orelse, st, frame)
        elif isinstance(stmt, ast.While):
            self._eval(stmt.test, st, frame)
            self._loop(stmt.body, st, frame, lambda s: None)
            self._exec_block(stmt.orelse, st, frame)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                value = self._eval(item.context_expr, st, frame)
                if item.optional_vars is not None:
                    self._assign(item.optional_vars, item.context_expr, value, st, frame)
            return self._exec_block(stmt.body, st, frame)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            return self._exec_try(stmt, st, frame)
        elif isinstance(stmt, ast.Match):
            self._eval(stmt.subject, st, frame)
            merged: _State | None = None
            for case in stmt.cases:
                branch = st.copy()
                if not self._exec_block(case.body, branch, frame):
                    merged = branch if merged is None else merged.merge(branch)
            if merged is not None:
                st.replace(st.merge(merged))
        elif isinstance(stmt, ast.Assert):
            self._eval(stmt.test, st, frame)
        return False

    def _exec_if(self, stmt: ast.If, st: _State, frame: _Frame) -> bool:
        self._eval(stmt.test, st, frame)
        when_true, when_false = self._guard(stmt.test, st, frame)
        body = st.copy()
        self._refine(body, when_true, frame)
        orelse = st.copy()
        self._refine(orelse, when_false, frame)
        body_ends = self._exec_block(stmt.body, body, frame)
        else_ends = self._exec_block(stmt.orelse, orelse, frame)
        if body_ends and else_ends:
            return True
        if body_ends:
            st.replace(orelse)
        elif else_ends:
            st.replace(body)
        else:
            st.replace(body.merge(orelse))
        return False

    def _exec_try(self, stmt: ast.Try | ast.TryStar, st: _State, frame: _Frame) -> bool:
        start = st.copy()
        body = st.copy()
        body_ends = self._exec_block(stmt.body, body, frame)
        outcomes: list[_State] = []
        if not body_ends:
            self._exec_block(stmt.orelse, body, frame)
            outcomes.append(body)
        for handler in stmt.handlers:
            branch = start.merge(body)
            if handler.name:
                branch.taint[handler.name] = error_source(
                    f"exception '{handler.name}'", handler.lineno
                )
            if not self._exec_block(handler.body, branch, frame):
                outcomes.append(branch)
        if not outcomes:
            self._exec_block(stmt.finalbody, st, frame)
            return True
        result = outcomes[0]
        for other in outcomes[1:]:
            result = result.merge(other)
        st.replace(result)
        return self._exec_block(stmt.finalbody, st, frame)

    def _loop(self, body: list[ast.stmt], st: _State, frame: _Frame, bind: object) -> None:
        before = st.copy()
        first = st.copy()
        bind(first)  # type: ignore[operator]
        self._exec_block(body, first, frame)
        merged = before.merge(first)
        if merged.signature() != before.signature():
            second = merged.copy()
            bind(second)  # type: ignore[operator]
            self._exec_block(body, second, frame)
            merged = merged.merge(second)
        st.replace(merged)

    # ------------------------------------------------------------------ assignment

    def _assign(
        self,
        target: ast.expr,
        value_node: ast.expr | None,
        value: Taint | None,
        st: _State,
        frame: _Frame,
    ) -> None:
        line = getattr(target, "lineno", 0)
        if isinstance(target, ast.Name):
            name = target.id
            if value is not None:
                st.taint[name] = value.step(line, f"assigned to '{name}'")
            else:
                st.taint.pop(name, None)
            for table in (st.types, st.derived, st.regex, st.parsers, st.first):
                table.pop(name, None)
            st.normalized.discard(name)
            st.consts.discard(name)
            if value_node is None:
                return
            kind = self._type_of(value_node, st)
            if kind:
                st.types[name] = kind
            if self._is_const(value_node, st):
                st.consts.add(name)
            self._note_value_facts(name, value_node, st)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._assign(element, None, value, st, frame)
        elif isinstance(target, ast.Starred):
            self._assign(target.value, None, value, st, frame)
        elif isinstance(target, ast.Attribute):
            key = dotted(target)
            if key:
                if value is not None:
                    st.taint[key] = value
                else:
                    st.taint.pop(key, None)
                if value_node is not None:
                    kind = self._type_of(value_node, st)
                    if kind:
                        st.types[key] = kind
        elif isinstance(target, ast.Subscript):
            self._eval(target.slice, st, frame)
            if self._is_session(target.value, st):
                self._sink(
                    TRUST,
                    target,
                    value_node or target,
                    value,
                    st,
                    frame,
                    "value stored in the session",
                )
            key = dotted(target.value)
            if key and value is not None:
                st.taint[key] = union(st.taint.get(key), value) or value

    def _note_value_facts(self, name: str, value: ast.expr, st: _State) -> None:
        inner = value.value if isinstance(value, ast.Await) else value
        if isinstance(inner, ast.Call):
            qual = qualify(inner.func, self.imports) or ""
            method = inner.func.attr if isinstance(inner.func, ast.Attribute) else ""
            if qual in ("urllib.parse.urlparse", "urllib.parse.urlsplit") and inner.args:
                root = dotted(inner.args[0])
                if root:
                    st.derived[name] = st.derived.get(root, root)
            if qual in NORMALISING or method in ("resolve", "absolute", "realpath"):
                st.normalized.add(name)
            if qual in ("re.compile", "regex.compile") and inner.args:
                pattern = self._const_str(inner.args[0], st)
                if pattern is not None:
                    st.regex[name] = pattern
            if qual == "lxml.etree.XMLParser":
                st.parsers[name] = self._parser_safety(inner)
        elif isinstance(inner, ast.List | ast.Tuple) and inner.elts:
            st.first[name] = inner.elts[0]
        elif isinstance(inner, ast.Name):
            if inner.id in st.derived:
                st.derived[name] = st.derived[inner.id]
            if inner.id in st.normalized:
                st.normalized.add(name)

    # ------------------------------------------------------------------ expressions

    def _eval(self, node: ast.expr | None, st: _State, frame: _Frame) -> Taint | None:
        if node is None or isinstance(node, ast.Constant):
            return None
        if isinstance(node, ast.Name):
            return self._eval_name(node, st)
        if isinstance(node, ast.Attribute):
            return self._eval_attribute(node, st, frame)
        if isinstance(node, ast.Subscript):
            return self._eval_subscript(node, st, frame)
        if isinstance(node, ast.Call):
            return self._eval_call(node, st, frame)
        if isinstance(node, ast.BinOp):
            value = union(self._eval(node.left, st, frame), self._eval(node.right, st, frame))
            return self._prefix_rule(node, value, st)
        if isinstance(node, ast.JoinedStr):
            parts = [self._eval(v, st, frame) for v in node.values]
            return self._prefix_rule(node, union(*parts), st)
        if isinstance(node, ast.FormattedValue):
            return self._eval(node.value, st, frame)
        if isinstance(node, ast.BoolOp):
            return union(*(self._eval(v, st, frame) for v in node.values))
        if isinstance(node, ast.IfExp):
            self._eval(node.test, st, frame)
            when_true, when_false = self._guard(node.test, st, frame)
            body, orelse = st.copy(), st.copy()
            self._refine(body, when_true, frame)
            self._refine(orelse, when_false, frame)
            return union(self._eval(node.body, body, frame), self._eval(node.orelse, orelse, frame))
        if isinstance(node, ast.Compare):
            self._eval(node.left, st, frame)
            for comparator in node.comparators:
                self._eval(comparator, st, frame)
            return None
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, st, frame)
            return None if isinstance(node.op, ast.Not) else value
        if isinstance(node, ast.Await):
            return self._eval(node.value, st, frame)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return union(*(self._eval(e, st, frame) for e in node.elts))
        if isinstance(node, ast.Dict):
            for k in node.keys:
                self._eval(k, st, frame)
            return union(*(self._eval(v, st, frame) for v in node.values))
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self._eval_comprehension(node, st, frame)
        if isinstance(node, ast.NamedExpr):
            value = self._eval(node.value, st, frame)
            self._assign(node.target, node.value, value, st, frame)
            return value
        if isinstance(node, ast.Starred):
            return self._eval(node.value, st, frame)
        if isinstance(node, ast.Slice):
            for part in (node.lower, node.upper, node.step):
                self._eval(part, st, frame)
            return None
        return None

    def _eval_name(self, node: ast.Name, st: _State) -> Taint | None:
        name = node.id
        if name in st.taint:
            return st.taint[name]
        if name in st.types or name in st.consts:
            return None
        qual = qualify(node, self.imports)
        if qual == "sys.argv":
            return source("sys.argv", node.lineno, remote=False)
        if qual == "os.environ":
            return source("os.environ", node.lineno, remote=False, env=True)
        return self.module_state.taint.get(name)

    def _eval_attribute(self, node: ast.Attribute, st: _State, frame: _Frame) -> Taint | None:
        key = dotted(node)
        if key and key in st.taint:
            return st.taint[key]
        if self._is_request(node.value, st):
            if node.attr in REQUEST_CLEAN_ATTRS:
                return None
            base = dotted(node.value) or "request"
            return source(f"{base}.{node.attr}", node.lineno)
        qual = qualify(node, self.imports)
        if qual == "sys.argv":
            return source("sys.argv", node.lineno, remote=False)
        if qual == "os.environ":
            return source("os.environ", node.lineno, remote=False, env=True)
        base_taint = self._eval(node.value, st, frame)
        if base_taint is None:
            return None
        if node.attr in ("name", "stem"):
            return base_taint.without(frozenset({PATH}))
        return base_taint

    def _eval_subscript(self, node: ast.Subscript, st: _State, frame: _Frame) -> Taint | None:
        key_taint = self._eval(node.slice, st, frame)
        if isinstance(node.value, ast.Name) and node.value.id in self.module_consts:
            return key_taint.without(EVERYTHING) if key_taint else None
        if qualify(node.value, self.imports) == "os.environ":
            return source("os.environ", node.lineno, remote=False, env=True)
        return self._eval(node.value, st, frame)

    def _eval_comprehension(
        self,
        node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
        st: _State,
        frame: _Frame,
    ) -> Taint | None:
        inner = st.copy()
        for gen in node.generators:
            items = self._eval(gen.iter, inner, frame)
            self._assign(gen.target, None, items, inner, frame)
            for cond in gen.ifs:
                self._eval(cond, inner, frame)
        if isinstance(node, ast.DictComp):
            return union(self._eval(node.key, inner, frame), self._eval(node.value, inner, frame))
        return self._eval(node.elt, inner, frame)

    def _eval_call(self, node: ast.Call, st: _State, frame: _Frame) -> Taint | None:
        func = node.func
        qual = qualify(func, self.imports) or ""
        method = func.attr if isinstance(func, ast.Attribute) else ""
        receiver = self._eval(func.value, st, frame) if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Call | ast.Subscript):
            self._eval(func, st, frame)
        args = [self._eval(a, st, frame) for a in node.args]
        kwargs = {
            kw.arg or f"**{i}": self._eval(kw.value, st, frame)
            for i, kw in enumerate(node.keywords)
        }
        everything = union(*args, *kwargs.values())

        self._check_sinks(node, qual, method, receiver, args, kwargs, st, frame)

        last = qual.split(".")[-1] if qual else method
        if last and last.lower().startswith(TRUSTED_RESULT_PREFIXES):
            return everything.without(EVERYTHING) if everything else None
        local = self._resolve_local(node, frame)
        if local is not None:
            return self._apply_summary(local[0], local[1], node, args, kwargs, frame)

        if qual in LOCAL_SOURCE_CALLS:
            return source(f"{qual}()", node.lineno, remote=False)
        if qual in ("os.getenv", "os.environ.get"):
            return source("os.environ", node.lineno, remote=False, env=True)
        if method in ("parse_args", "parse_known_args"):
            return source("command-line arguments", node.lineno, remote=False)
        if qual in (
            "traceback.format_exc",
            "traceback.format_exception",
            "traceback.format_tb",
            "sys.exc_info",
        ):
            return error_source(f"{qual}()", node.lineno)
        if isinstance(func, ast.Attribute) and self._is_request(func.value, st):
            if method in REQUEST_CLEAN_ATTRS:
                return None
            return source(f"{dotted(func) or 'request.' + method}()", node.lineno)
        if qual in ALL_CLEAN_CALLS:
            return everything.without(EVERYTHING) if everything else None
        if qual in SANITISERS:
            return everything.without(SANITISERS[qual]) if everything else None
        if (
            method == "format"
            and isinstance(func, ast.Attribute)
            and self._is_markup(func.value, st)
        ):
            return everything.without(frozenset({XSS})) if everything else None
        if (
            method == "get"
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in self.module_consts
        ):
            return everything.without(EVERYTHING) if everything else None
        if receiver is not None:
            if method in NON_DATA_METHODS:
                return receiver.without(EVERYTHING)
            if method in STRING_METHODS:
                return union(receiver, everything)
            return receiver
        if method in STRING_METHODS and everything is not None:
            return self._prefix_rule(node, everything, st)
        if qual in PASSTHROUGH_CALLS:
            return everything
        return None

    def _resolve_local(self, node: ast.Call, frame: _Frame) -> tuple[str, int] | None:
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in self.functions
            and func.id not in self.imports.aliases
        ):
            return func.id, 0
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in ("self", "cls")
            and frame.cls
        ):
            key = f"{frame.cls}.{func.attr}"
            if key in self.functions:
                return key, 1
        return None

    def _apply_summary(  # noqa: PLR0917
        self,
        key: str,
        offset: int,
        node: ast.Call,
        args: list[Taint | None],
        kwargs: dict[str, Taint | None],
        frame: _Frame,
    ) -> Taint | None:
        summary = self.summaries.get(key)
        if summary is None and self._on_demand and key not in self._in_progress:
            fn = self.functions[key]
            if id(fn) not in self._done:
                self._analyse_function(fn, self._classes.get(key))
            summary = self.summaries.get(key)
        if summary is None:  # recursion, or called from module code before the loop
            return None
        names = self.params.get(key, [])
        by_index: dict[int, Taint] = {}
        for i, value in enumerate(args):
            if value is not None:
                by_index[i + offset] = value
        for name, value in kwargs.items():
            if value is not None and name in names:
                by_index[names.index(name)] = value
        for index, kind, line, last, cwe, detail in summary.sinks:
            value = by_index.get(index)
            if value is None or kind not in value.kinds:
                continue
            carried = value.step(node.lineno, f"passed to {key}()")
            if carried.sources():
                self._record(line, last, cwe, "tainted")
                self._report(kind, line, last, carried, detail, cwe)
            for origin in carried.params():
                frame.summary.sinks.append((origin.param, kind, line, last, cwe, detail))
        result = summary.return_source
        for index, kinds in summary.returns.items():
            value = by_index.get(index)
            if value is not None:
                result = union(result, Taint(value.kinds & kinds, value.origins, value.steps))
        return result

    # ------------------------------------------------------------------ sinks

    def _check_sinks(  # noqa: PLR0915, PLR0917
        self,
        node: ast.Call,
        qual: str,
        method: str,
        receiver: Taint | None,
        args: list[Taint | None],
        kwargs: dict[str, Taint | None],
        st: _State,
        frame: _Frame,
    ) -> None:
        def arg(index: int, name: str | None = None) -> tuple[ast.expr | None, Taint | None]:
            if name is not None:
                for kw in node.keywords:
                    if kw.arg == name:
                        return kw.value, kwargs.get(name)
            if 0 <= index < len(node.args):
                return node.args[index], args[index]
            return None, None

        def sink(kind: str, index: int, name: str | None, detail: str, **extra: object) -> None:
            expr, value = arg(index, name)
            if expr is None:
                return
            self._sink(kind, node, expr, value, st, frame, detail, **extra)  # type: ignore[arg-type]

        receiver_type = (
            self._type_of(node.func.value, st) if isinstance(node.func, ast.Attribute) else None
        )

        # --- OS commands
        if qual in _SHELL_ALWAYS:
            sink(CMD, 0, "cmd", f"{qual}() runs a shell command")
        elif qual in _SUBPROCESS or qual in ("asyncio.create_subprocess_exec",):
            shell = keyword(node, "shell")
            first, first_taint = arg(0, "args")
            if (
                shell is not None
                and not is_false(shell)
                and not (isinstance(shell, ast.Constant) and shell.value is None)
            ):
                sink(CMD, 0, "args", f"{qual}(shell=True) runs a shell command")
            elif first is not None:
                program = self._program_of(first, st)
                if program is not None:
                    self._sink(
                        CMD,
                        node,
                        program,
                        self._eval(program, st, frame),
                        st,
                        frame,
                        f"program run by {qual}()",
                    )
                elif first_taint is not None:
                    self._sink(CMD, node, first, first_taint, st, frame, f"program run by {qual}()")
                else:
                    self._record(node.lineno, end_line(node), 78, "constant")
        elif qual.startswith(("os.exec", "os.spawn")):
            index = 1 if qual.startswith("os.spawn") else 0
            sink(CMD, index, None, f"program run by {qual}()")
        elif method == "exec_command":
            sink(CMD, 0, "command", "command run on the remote host")

        # --- code and templates
        if qual in ("eval", "exec", "builtins.eval", "builtins.exec") and not self._shadowed(
            qual, st
        ):
            sink(CODE, 0, None, f"{qual}() evaluates code")
        elif qual in ("compile", "builtins.compile"):
            sink(CODE, 0, "source", "compile() builds code")
        if qual.endswith("render_template_string"):
            sink(TEMPLATE, 0, "source", "template text rendered by render_template_string()")
        elif qual in (
            "jinja2.Template",
            "jinja2.environment.Template",
            "django.template.Template",
            "mako.template.Template",
        ):
            sink(TEMPLATE, 0, "source", f"template text compiled by {qual}()")
        elif method == "from_string" and self.uses_jinja:
            sink(TEMPLATE, 0, "source", "template text compiled by Environment.from_string()")

        # --- SQL
        if method in ("execute", "executemany", "executescript", "mogrify", "exec_driver_sql"):
            query, query_taint = arg(0, "sql") if keyword(node, "sql") else arg(0, "statement")
            if query is not None:
                self._sink(
                    SQL, node, query, query_taint, st, frame, f"query text passed to {method}()"
                )
        elif method == "raw" and node.args:
            sink(SQL, 0, "raw_query", "query text passed to raw()")
        elif method == "extra":
            for name in ("where", "select", "tables"):
                sink(SQL, -1, name, f"SQL fragment passed to extra({name}=)")
        elif qual in (
            "sqlalchemy.text",
            "sqlalchemy.sql.text",
            "sqlalchemy.sql.expression.text",
            "django.db.models.expressions.RawSQL",
            "django.db.models.RawSQL",
            "pandas.read_sql",
            "pandas.read_sql_query",
        ):
            sink(SQL, 0, "sql", f"SQL text passed to {qual}()")

        # --- files
        if qual in _PATH_FUNCS:
            for index, name in _PATH_FUNCS[qual]:
                sink(PATH, index, name, f"file path used by {qual}()")
        elif (
            method in _PATH_METHODS
            and receiver is not None
            and isinstance(node.func, ast.Attribute)
        ):
            self._sink(PATH, node, node.func.value, receiver, st, frame, f"path used by {method}()")
        elif (
            method == "open"
            and receiver is not None
            and isinstance(node.func, ast.Attribute)
            and not node.args
        ):
            self._sink(
                PATH, node, node.func.value, receiver, st, frame, "path opened by Path.open()"
            )
        elif method == "save" and node.args:
            sink(PATH, 0, "dst", "destination path passed to save()")
        elif method in ("extractall", "extract") and receiver_type == "tarfile":
            self._archive_extract(node, receiver, st, frame)

        # --- redirects, outbound requests
        if qual in _REDIRECTS:
            name = "to" if qual == "django.shortcuts.redirect" else "url"
            sink(REDIRECT, 0, name, f"redirect target of {qual.rsplit('.', maxsplit=1)[-1]}()")
        if self._is_http_call(qual, method, receiver_type):
            index = 1 if method == "request" or qual.endswith(".request") else 0
            sink(SSRF, index, "url", f"URL fetched by {qual or method}()")
        elif qual in _URLOPEN:
            sink(SSRF, 0, "url", f"URL fetched by {qual}()")

        # --- XML
        if qual in _LXML_PARSE:
            self._lxml_parse(node, qual, st, frame)
        elif qual in _STDLIB_XML:
            sink(XML, 0, "source", f"XML parsed by {qual}()", cwe=776, severity="medium")

        # --- deserialisation
        if qual in _DESER:
            sink(DESER, 0, None, f"data deserialised by {qual}()")
        elif qual in ("yaml.load", "yaml.load_all"):
            loader = keyword(node, "Loader")
            if loader is None and len(node.args) > 1:
                loader = node.args[1]
            loader_name = (dotted(loader) or "") if loader is not None else ""
            if loader_name.split(".")[-1] in _YAML_SAFE_LOADERS:
                self._record(node.lineno, end_line(node), 502, "sanitized")
            else:
                sink(DESER, 0, "stream", f"YAML loaded by {qual}() with an unsafe loader")
        elif qual == "torch.load" and not is_true(keyword(node, "weights_only")):
            sink(DESER, 0, "f", "torch.load() unpickles the file")
        elif qual == "numpy.load" and is_true(keyword(node, "allow_pickle")):
            sink(DESER, 0, "file", "numpy.load(allow_pickle=True) unpickles the file")

        # --- LDAP
        ldap_receiver = receiver_type in ("ldap", "ldap3")
        if method in _LDAP_SEARCH and (ldap_receiver or method in _PYTHON_LDAP_ONLY):
            if receiver_type == "ldap3":
                sink(LDAP, 1, "search_filter", "LDAP search filter")
                sink(LDAP, 0, "search_base", "LDAP search base DN")
            else:
                sink(LDAP, 2, "filterstr", "LDAP search filter")
                sink(LDAP, 0, "base", "LDAP search base DN")
        elif method in _LDAP_DN and (ldap_receiver or method in _PYTHON_LDAP_ONLY):
            sink(
                LDAP,
                0,
                "who" if method.endswith("bind_s") or method == "simple_bind" else "dn",
                "LDAP distinguished name",
            )
        elif qual == "ldap3.Connection":
            sink(LDAP, -1, "user", "LDAP bind DN")

        # --- XPath
        if method == "xpath":
            sink(XPATH, 0, "_path", "XPath expression")
        elif qual in _XPATH_FUNCS:
            sink(XPATH, 0, "path", f"XPath expression compiled by {qual}()")
        elif method in _ELEMENT_FIND and receiver_type == "xml_node":
            sink(XPATH, 0, "path", f"ElementPath expression passed to {method}()")

        # --- regular expressions
        if qual in _REGEX_FUNCS:
            sink(REGEX, 0, "pattern", f"regular expression compiled by {qual}()")

        # --- responses
        self._response_sinks(node, qual, method, arg, sink, st, frame)

        # --- session writes
        if (
            method in ("update", "setdefault", "__setitem__")
            and isinstance(node.func, ast.Attribute)
            and self._is_session(node.func.value, st)
        ):
            for index in range(len(node.args)):
                sink(TRUST, index, None, "value stored in the session")

    def _response_sinks(  # noqa: PLR0917
        self,
        node: ast.Call,
        qual: str,
        method: str,
        arg: Callable[..., tuple[ast.expr | None, Taint | None]],
        sink: Callable[..., None],
        st: _State,
        frame: _Frame,
    ) -> None:
        last = qual.rsplit(".", maxsplit=1)[-1]
        if qual in _MARKUP:
            sink(XSS, 0, None, f"HTML marked safe by {last}()")
            return
        if qual.startswith("django.") and last in _DJANGO_HTML_RESPONSES:
            content, value = arg(0, "content")
            if content is not None:
                if self._html_content_type(keyword(node, "content_type")) and self._html_shaped(
                    content, st
                ):
                    self._sink(XSS, node, content, value, st, frame, f"response body of {last}()")
                self._sink(INFO, node, content, value, st, frame, f"response body of {last}()")
            return
        if qual.startswith("django.") and last == "JsonResponse":
            sink(INFO, 0, "data", "JSON response body")
            return
        if qual in (
            "flask.make_response",
            "flask.Response",
            "werkzeug.wrappers.Response",
            "werkzeug.Response",
            "quart.make_response",
        ):
            content, value = arg(0, "response")
            if content is not None:
                media = keyword(node, "mimetype") or keyword(node, "content_type")
                if self._html_content_type(media) and self._html_shaped(content, st):
                    self._sink(XSS, node, content, value, st, frame, f"response body of {last}()")
                self._sink(INFO, node, content, value, st, frame, f"response body of {last}()")
            return
        if qual in ("flask.jsonify", "quart.jsonify"):
            for index in range(len(node.args)):
                sink(INFO, index, None, "JSON response body")
            for kw in node.keywords:
                if kw.arg:
                    sink(INFO, -1, kw.arg, "JSON response body")
            return
        if qual.startswith(("starlette.", "fastapi.")) and last in _STARLETTE_RESPONSES:
            content, value = arg(0, "content")
            if content is None:
                return
            media = keyword(node, "media_type")
            html = last == "HTMLResponse" or (
                last == "Response" and media is not None and self._html_content_type(media)
            )
            if html:
                self._sink(XSS, node, content, value, st, frame, f"HTML body of {last}()")
            self._sink(INFO, node, content, value, st, frame, f"response body of {last}()")
            return
        if qual in _HTTP_EXCEPTIONS:
            sink(INFO, 1, "detail", "HTTP error detail sent to the client")
        elif qual in ("flask.abort", "werkzeug.exceptions.abort"):
            sink(INFO, 1, "description", "error description sent to the client")

    def _check_return(
        self, stmt: ast.Return, value_node: ast.expr, value: Taint | None, st: _State, frame: _Frame
    ) -> None:
        if frame.kind != "route":
            return
        if (frame.framework == "flask" or frame.html_route) and self._html_shaped(value_node, st):
            self._sink(XSS, stmt, value_node, value, st, frame, "HTML returned by the route")
        self._sink(INFO, stmt, value_node, value, st, frame, "response returned by the route")

    def _archive_extract(
        self, node: ast.Call, receiver: Taint | None, st: _State, frame: _Frame
    ) -> None:
        filt = keyword(node, "filter")
        if (filt is not None and literal_str(filt) != "fully_trusted") or keyword(
            node, "members"
        ) is not None:
            self._record(node.lineno, end_line(node), 22, "sanitized")
            return
        if receiver is not None and PATH in receiver.kinds and receiver.sources():
            self._record(node.lineno, end_line(node), 22, "tainted")
            self._report(
                PATH,
                node.lineno,
                end_line(node),
                receiver,
                "archive members extracted without a filter (tar slip)",
                22,
            )
        else:
            self._record(node.lineno, end_line(node), 22, "unknown")

    def _lxml_parse(self, node: ast.Call, qual: str, st: _State, frame: _Frame) -> None:
        data = argument(node, 0, "source") or argument(node, 0, "text")
        data_taint = self._eval(data, st, frame) if data is not None else None
        parser = keyword(node, "parser")
        if parser is None and len(node.args) > 1:
            parser = node.args[1]
        safety = "default"
        if isinstance(parser, ast.Name):
            safety = st.parsers.get(parser.id, self.module_state.parsers.get(parser.id, "default"))
        elif (
            isinstance(parser, ast.Call)
            and qualify(parser.func, self.imports) == "lxml.etree.XMLParser"
        ):
            safety = self._parser_safety(parser)
        line, last = node.lineno, end_line(node)
        if safety == "safe":
            self._record(line, last, 611, "sanitized")
            return
        if safety == "unsafe":
            if data_taint is not None and XML in data_taint.kinds and data_taint.sources():
                self._record(line, last, 611, "tainted")
                self._report(
                    XML,
                    line,
                    last,
                    data_taint,
                    f"untrusted XML parsed by {qual}() with a parser that resolves external entities",
                    611,
                )
            elif self.final:
                self._record(line, last, 611, "unknown")
                self._pattern_finding(
                    "xxe-parser",
                    line,
                    last,
                    611,
                    "medium",
                    "XML parsed with external entities enabled",
                    f"{qual}() uses an lxml parser that resolves entities, loads DTDs or allows network access.",
                )
            return
        # lxml >= 5 no longer resolves external entities by default; older versions do.
        verdict: Verdict = "constant" if data_taint is None else "sanitized"
        self._record(line, last, 611, verdict)
        if data_taint is not None and data_taint.sources() and self.final:
            self._pattern_finding(
                "xxe-default-parser",
                line,
                last,
                611,
                "low",
                "Untrusted XML parsed with lxml's default parser",
                f"{qual}() parses request data with the default parser, which resolves external entities in lxml before 5.0; pass an XMLParser(resolve_entities=False, no_network=True).",
            )

    def _parser_safety(self, call: ast.Call) -> str:
        resolve = keyword(call, "resolve_entities")
        load_dtd = keyword(call, "load_dtd")
        no_network = keyword(call, "no_network")
        huge = keyword(call, "huge_tree")
        if is_true(resolve) or is_false(no_network) or is_true(huge):
            return "unsafe"
        if is_true(load_dtd) and not is_false(resolve):
            return "unsafe"
        if is_false(resolve):
            return "safe"
        return "default"

    # ------------------------------------------------------------------ sink helper

    def _sink(  # noqa: PLR0917
        self,
        kind: str,
        node: ast.AST,
        expr: ast.expr | None,
        value: Taint | None,
        st: _State,
        frame: _Frame,
        detail: str,
        cwe: int | None = None,
        severity: str | None = None,
    ) -> None:
        spec = SINK_KINDS[kind]
        cwe = cwe or spec.cwe
        line, last = getattr(node, "lineno", 0), end_line(node)
        verdict: Verdict
        if value is not None and kind in value.kinds:
            if value.sources():
                verdict = "tainted"
                self._report(kind, line, last, value, detail, cwe, severity)
            else:
                verdict = "unknown"
            for origin in value.params():
                if frame.key is not None:
                    frame.summary.sinks.append((origin.param, kind, line, last, cwe, detail))
        elif value is not None:
            verdict = "sanitized"
        elif expr is None or self._is_const(expr, st):
            verdict = "constant"
        else:
            verdict = "unknown"
        self._record(line, last, cwe, verdict)

    def _record(self, line: int, last: int, cwe: int, verdict: Verdict) -> None:
        fam = _cwe.family(cwe)
        key = (line, fam)
        old = self.checks.get(key)
        if old is None or VERDICT_ORDER[verdict] < VERDICT_ORDER[old.verdict]:
            self.checks[key] = SinkCheck(line, last, fam, verdict)

    def _report(  # noqa: PLR0917
        self,
        kind: str,
        line: int,
        last: int,
        value: Taint,
        detail: str,
        cwe: int,
        severity: str | None = None,
    ) -> None:
        if not self.final:
            return
        spec = SINK_KINDS[kind]
        sources = value.sources()
        base = severity or spec.severity
        remote = any(o.remote for o in sources)
        if not remote:
            base = _cwe.bump(base, -2 if all(o.env for o in sources) else -1)
        labels = sorted({o.label for o in sources})
        info = _cwe.info(cwe)
        origin_text = ", ".join(labels[:3])
        message = (
            f"{origin_text} reaches the {detail} (line {line}) without a recognised sanitiser."
        )
        steps = [*value.steps, (line, f"sink: {detail}")]
        finding = Finding(
            rule_id=f"taint/{spec.rule}",
            analyser="taint",
            category="security",
            title=spec.title if cwe != 776 else "XML entity expansion on untrusted input",
            message=message,
            line_start=line,
            line_end=last,
            severity=base,
            confidence="high" if remote else "medium",
            cwe=cwe,
            recommendation=info.recommendation if info else "",
            example_fix=info.example_fix if info else "",
            steps=steps,
            evidence="taint",
        )
        key = (line, cwe)
        if key not in self.findings:
            self.findings[key] = finding

    def _pattern_finding(  # noqa: PLR0917
        self, rule: str, line: int, last: int, cwe: int, severity: str, title: str, message: str
    ) -> None:
        info = _cwe.info(cwe)
        key = (line, cwe)
        if key in self.findings:
            return
        self.findings[key] = Finding(
            rule_id=f"pattern/{rule}",
            analyser="patterns",
            category="security",
            title=title,
            message=message,
            line_start=line,
            line_end=last,
            severity=severity,
            confidence="medium",
            cwe=cwe,
            recommendation=info.recommendation if info else "",
            example_fix=info.example_fix if info else "",
            evidence="pattern",
        )

    # ------------------------------------------------------------------ guards

    def _guard(
        self, test: ast.expr, st: _State, frame: _Frame
    ) -> tuple[
        dict[str, tuple[ast.expr, frozenset[str]]], dict[str, tuple[ast.expr, frozenset[str]]]
    ]:
        Facts = dict[str, tuple[ast.expr, frozenset[str]]]
        empty: Facts = {}
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            when_true, when_false = self._guard(test.operand, st, frame)
            return when_false, when_true
        if isinstance(test, ast.BoolOp):
            parts = [self._guard(v, st, frame) for v in test.values]
            if isinstance(test.op, ast.And):
                return _join(p[0] for p in parts), _meet([p[1] for p in parts])
            return _meet([p[0] for p in parts]), _join(p[1] for p in parts)
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            return self._compare_guard(test, st)
        if isinstance(test, ast.Call):
            return self._call_guard(test, st), empty
        url_subject = self._url_part(test, st)
        if (
            url_subject is not None
            and isinstance(test, ast.Attribute)
            and test.attr in ("netloc", "scheme", "hostname")
        ):
            # "if urlparse(u).netloc: <reject>" -> u is relative when the test is false
            return empty, self._facts(url_subject, frozenset({REDIRECT, SSRF}), st)
        return empty, empty

    def _compare_guard(
        self, test: ast.Compare, st: _State
    ) -> tuple[
        dict[str, tuple[ast.expr, frozenset[str]]], dict[str, tuple[ast.expr, frozenset[str]]]
    ]:
        op, right, left = test.ops[0], test.comparators[0], test.left
        empty: dict[str, tuple[ast.expr, frozenset[str]]] = {}
        url_subject = self._url_part(left, st)
        subject: ast.expr | None = left
        kinds = EVERYTHING
        if url_subject is not None:
            subject, kinds = url_subject, frozenset({REDIRECT, SSRF})
        if isinstance(op, ast.In | ast.NotIn) and self._is_const_collection(right, st):
            facts = self._facts(subject, kinds, st)
            return (facts, empty) if isinstance(op, ast.In) else (empty, facts)
        if (
            isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot)
            and self._is_const(right, st)
            and not (isinstance(right, ast.Constant) and right.value is None)
        ):
            facts = self._facts(subject, kinds, st)
            return (facts, empty) if isinstance(op, ast.Eq | ast.Is) else (empty, facts)
        # os.path.commonpath([base, p]) == base
        commonpath = (qualify(left.func, self.imports) or "") if isinstance(left, ast.Call) else ""
        if (
            isinstance(op, ast.Eq)
            and isinstance(left, ast.Call)
            and commonpath.endswith("commonpath")
        ) and left.args:
            inner = left.args[0]
            if isinstance(inner, ast.List | ast.Tuple):
                facts = {}
                for element in inner.elts:
                    key = dotted(element)
                    if key and key in st.normalized:
                        facts.update(self._facts(element, frozenset({PATH}), st))
                return facts, empty
        return empty, empty

    def _call_guard(self, call: ast.Call, st: _State) -> dict[str, tuple[ast.expr, frozenset[str]]]:
        qual = qualify(call.func, self.imports) or ""
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        last = qual.split(".")[-1].lower()
        if method in (
            "isdigit",
            "isnumeric",
            "isdecimal",
            "isalnum",
            "isalpha",
            "isidentifier",
        ) and isinstance(call.func, ast.Attribute):
            return self._facts(call.func.value, EVERYTHING, st)
        if method in ("startswith", "is_relative_to") and isinstance(call.func, ast.Attribute):
            subject = call.func.value
            key = dotted(subject)
            if key and key in st.normalized:
                return self._facts(subject, frozenset({PATH}), st)
            return {}
        if (
            qual in ("re.fullmatch", "re.match", "re.search", "regex.fullmatch")
            and len(call.args) >= 2
        ):
            pattern = self._const_str(call.args[0], st)
            if pattern is not None and _anchored(pattern, qual.split(".")[-1]):
                return self._facts(call.args[1], _regex_kinds(pattern), st)
            return {}
        if method in ("fullmatch", "match") and isinstance(call.func, ast.Attribute) and call.args:
            key = dotted(call.func.value)
            pattern = st.regex.get(key or "") if key else None
            if pattern is None and key and isinstance(call.func.value, ast.Name):
                module_value = self.module_consts.get(key)
                pattern = None if module_value is None else literal_str(module_value)
                pattern = pattern if pattern is not None else self.module_state.regex.get(key)
            if pattern is not None and _anchored(pattern, method):
                return self._facts(call.args[0], _regex_kinds(pattern), st)
            return {}
        if qual == "isinstance" and len(call.args) == 2:
            type_name = dotted(call.args[1]) or ""
            if type_name in ("int", "float", "bool"):
                return self._facts(call.args[0], EVERYTHING, st)
            return {}
        if any(word in last for word in VALIDATOR_NAME_WORDS) and call.args:
            kinds = (
                frozenset({REDIRECT, SSRF})
                if "url" in last or "host" in last or "redirect" in last
                else EVERYTHING
            )
            facts: dict[str, tuple[ast.expr, frozenset[str]]] = {}
            for a in call.args[:1]:
                facts.update(self._facts(a, kinds, st))
            return facts
        return {}

    def _url_part(self, node: ast.expr, st: _State) -> ast.expr | None:
        """For ``urlparse(x).hostname`` or ``p.hostname`` with ``p = urlparse(x)``: x."""
        if not isinstance(node, ast.Attribute) or node.attr not in (
            "netloc",
            "hostname",
            "scheme",
            "host",
        ):
            return None
        base = node.value
        if (
            isinstance(base, ast.Call)
            and qualify(base.func, self.imports)
            in ("urllib.parse.urlparse", "urllib.parse.urlsplit")
            and base.args
        ):
            return base.args[0]
        key = dotted(base)
        if key and key in st.derived:
            return base
        return None

    def _facts(
        self, subject: ast.expr | None, kinds: frozenset[str], st: _State
    ) -> dict[str, tuple[ast.expr, frozenset[str]]]:
        if subject is None:
            return {}
        key = dotted(subject)
        if key is None:
            return {}
        facts = {key: (subject, kinds)}
        root = st.derived.get(key)
        if root:
            facts[root] = (ast.Name(id=root, ctx=ast.Load()) if "." not in root else subject, kinds)
        return facts

    def _refine(
        self, st: _State, facts: dict[str, tuple[ast.expr, frozenset[str]]], frame: _Frame
    ) -> None:
        for key, (expr, kinds) in facts.items():
            value = st.taint.get(key)
            if value is None:
                value = self._eval(expr, st, frame) if dotted(expr) == key else None
            if value is not None:
                st.taint[key] = value.without(kinds)

    # ------------------------------------------------------------------ small queries

    def _is_noreturn(self, call: ast.Call, st: _State) -> bool:
        qual = qualify(call.func, self.imports) or ""
        if qual in NORETURN:
            return True
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("error", "exit"):
            return self._type_of(call.func.value, st) == "argparse"
        return False

    def _is_request(self, node: ast.expr, st: _State) -> bool:
        if isinstance(node, ast.Name):
            if st.types.get(node.id) == "request":
                return True
            if node.id in st.taint:
                return False
            return qualify(node, self.imports) in FLASK_REQUEST
        return dotted(node) == "self.request"

    def _is_session(self, node: ast.expr, st: _State) -> bool:
        if isinstance(node, ast.Name):
            return qualify(node, self.imports) in ("flask.session", "quart.session")
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "session"
            and self._is_request(node.value, st)
        )

    def _is_markup(self, node: ast.expr, st: _State) -> bool:
        if isinstance(node, ast.Call):
            return (qualify(node.func, self.imports) or "") in _MARKUP
        if isinstance(node, ast.Name):
            return st.types.get(node.id) == "markup"
        return False

    def _shadowed(self, name: str, st: _State) -> bool:
        return name in self.functions

    def _is_http_call(self, qual: str, method: str, receiver_type: str | None) -> bool:
        if qual:
            head, _, fn = qual.rpartition(".")
            if head in _HTTP_MODULES and (fn in _HTTP_VERBS or fn == "request"):
                return True
            if qual == "aiohttp.request":
                return True
        return receiver_type == "http_client" and (method in _HTTP_VERBS or method == "request")

    def _program_of(self, first: ast.expr, st: _State) -> ast.expr | None:
        if isinstance(first, ast.List | ast.Tuple):
            return first.elts[0] if first.elts else None
        if isinstance(first, ast.Name) and first.id in st.first:
            return st.first[first.id]
        return None

    def _type_of(self, node: ast.expr, st: _State) -> str | None:
        if isinstance(node, ast.Await):
            return self._type_of(node.value, st)
        if isinstance(node, ast.Name):
            return st.types.get(node.id) or self.module_state.types.get(node.id)
        if isinstance(node, ast.Attribute):
            key = dotted(node)
            if key:
                return st.types.get(key) or self.module_state.types.get(key)
            return None
        if isinstance(node, ast.Dict | ast.DictComp):
            return "dict"
        if isinstance(node, ast.List | ast.ListComp):
            return "list"
        if not isinstance(node, ast.Call):
            return None
        qual = qualify(node.func, self.imports) or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if qual in _HTTP_CLIENTS:
            return "http_client"
        if qual in (
            "ldap.initialize",
            "ldap.ldapobject.LDAPObject",
            "ldap.ldapobject.SimpleLDAPObject",
        ):
            return "ldap"
        if qual == "ldap3.Connection":
            return "ldap3"
        if qual in _XML_NODES:
            return "xml_node"
        if method in ("getroot", "find", "getroottree") and isinstance(node.func, ast.Attribute):
            return "xml_node" if self._type_of(node.func.value, st) == "xml_node" else None
        if qual == "lxml.etree.XMLParser":
            return "xml_parser"
        if qual in ("re.compile", "regex.compile"):
            return "regex"
        if qual == "argparse.ArgumentParser":
            return "argparse"
        if qual in ("tarfile.open", "tarfile.TarFile", "tarfile.TarFile.open"):
            return "tarfile"
        if qual == "zipfile.ZipFile":
            return "zipfile"
        if qual in _MARKUP:
            return "markup"
        if qual in _RESPONSE_MAKERS or qual.split(".")[-1].endswith("Response"):
            return "response"
        if qual in ("dict", "json.loads", "flask.jsonify"):
            return "dict"
        if qual == "list":
            return "list"
        return None

    def _html_shaped(self, node: ast.expr, st: _State) -> bool:
        if isinstance(node, ast.Tuple):
            return bool(node.elts) and self._html_shaped(node.elts[0], st)
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str | bytes)
        if isinstance(node, ast.JoinedStr | ast.BinOp | ast.Subscript):
            return True
        if isinstance(node, ast.IfExp):
            return self._html_shaped(node.body, st) or self._html_shaped(node.orelse, st)
        if isinstance(node, ast.Name):
            return st.types.get(node.id) not in ("dict", "list", "response", "markup")
        if isinstance(node, ast.Call):
            method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            qual = qualify(node.func, self.imports) or ""
            return method in STRING_METHODS or qual in ("str", "bytes")
        return False

    def _html_content_type(self, node: ast.expr | None) -> bool:
        if node is None:
            return True
        text = literal_str(node)
        if text is None:
            return True
        return text.lower().startswith(_HTML_TYPES)

    def _is_const(self, node: ast.expr, st: _State) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(self._is_const(v, st) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            return self._is_const(node.value, st)
        if isinstance(node, ast.BinOp):
            return self._is_const(node.left, st) and self._is_const(node.right, st)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return all(self._is_const(e, st) for e in node.elts)
        if isinstance(node, ast.Name):
            if node.id in st.taint:
                return False
            return node.id in st.consts or node.id in self.module_consts
        if isinstance(node, ast.Attribute):
            root = node
            while isinstance(root, ast.Attribute):
                root = root.value  # type: ignore[assignment]
            return (
                isinstance(root, ast.Name)
                and root.id in self.imports.aliases
                and root.id not in st.taint
                and qualify(root, self.imports) not in FLASK_REQUEST
                and qualify(root, self.imports) not in ("flask.session", "flask.g", "os.environ")
            )
        return False

    def _is_const_collection(self, node: ast.expr, st: _State) -> bool:
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return all(self._is_const(e, st) for e in node.elts)
        if isinstance(node, ast.Dict):
            return all(k is not None and self._is_const(k, st) for k in node.keys)
        if isinstance(node, ast.Name):
            return node.id in self.module_consts or node.id in st.consts
        if isinstance(node, ast.Attribute):
            return self._is_const(node, st)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "keys"
        ):
            return self._is_const_collection(node.func.value, st)
        return False

    def _const_str(self, node: ast.expr, st: _State) -> str | None:
        text = literal_str(node)
        if text is not None:
            return text
        if isinstance(node, ast.Name) and node.id in self.module_consts:
            return literal_str(self.module_consts[node.id])
        return None

    def _static_prefix(self, node: ast.expr | None, st: _State) -> tuple[str, bool]:
        """The literal text a string expression starts with, and whether that is all of it."""
        if node is None:
            return "", False
        if isinstance(node, ast.Constant):
            return (node.value, True) if isinstance(node.value, str) else ("", False)
        if isinstance(node, ast.Name) and node.id not in st.taint:
            value = self.module_consts.get(node.id)
            return self._static_prefix(value, st) if value is not None else ("", False)
        if isinstance(node, ast.FormattedValue):
            return self._static_prefix(node.value, st)
        if isinstance(node, ast.JoinedStr):
            out = ""
            for part in node.values:
                text, complete = self._static_prefix(part, st)
                out += text
                if not complete:
                    return out, False
            return out, True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, complete = self._static_prefix(node.left, st)
            if not complete:
                return left, False
            right, complete = self._static_prefix(node.right, st)
            return left + right, complete
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self._static_prefix(node.left, st)[0].split("%")[0], False
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
        ):
            return self._static_prefix(node.func.value, st)[0].split("{")[0], False
        return "", False

    def _prefix_rule(self, node: ast.expr, value: Taint | None, st: _State) -> Taint | None:
        if value is None or not (value.kinds & {SSRF, REDIRECT}):
            return value
        prefix = self._static_prefix(node, st)[0]
        if _FIXED_HOST.match(prefix):
            return value.without(frozenset({SSRF, REDIRECT}))
        if len(prefix) > 1 and prefix[0] == "/" and prefix[1] not in "/\\":
            return value.without(frozenset({SSRF, REDIRECT}))
        return value


def _join(parts: object) -> dict[str, tuple[ast.expr, frozenset[str]]]:
    out: dict[str, tuple[ast.expr, frozenset[str]]] = {}
    for facts in parts:  # type: ignore[attr-defined]
        for key, (expr, kinds) in facts.items():
            old = out.get(key)
            out[key] = (expr, kinds | old[1]) if old else (expr, kinds)
    return out


def _meet(
    parts: list[dict[str, tuple[ast.expr, frozenset[str]]]],
) -> dict[str, tuple[ast.expr, frozenset[str]]]:
    if not parts:
        return {}
    out = dict(parts[0])
    for facts in parts[1:]:
        for key in list(out):
            if key not in facts:
                del out[key]
            else:
                out[key] = (out[key][0], out[key][1] & facts[key][1])
    return out


def _anchored(pattern: str, how: str) -> bool:
    if how == "fullmatch":
        return True
    ends = pattern.endswith(("$", r"\Z", r"\z"))
    if how == "match":
        return ends
    return ends and pattern.startswith(("^", r"\A"))


def _regex_kinds(pattern: str) -> frozenset[str]:
    """What an allow-list regex rules out: everything, except traversal if it admits '/' and '.'."""
    loose = "." in pattern.replace(r"\.", "") or ("/" in pattern and r"\." in pattern)
    return EVERYTHING - {PATH} if loose else EVERYTHING


def analyse(index: ModuleIndex) -> tuple[list[Finding], list[SinkCheck]]:
    return TaintEngine(index).run()


__all__ = ["INJECTION", "TaintEngine", "analyse"]
