"""What the taint engine knows: taint values, sources, sanitisers and sinks.

A taint value carries the set of sink *kinds* it is still dangerous for. A source
makes every injection kind dangerous; a sanitiser removes the kinds it neutralises
(``shlex.quote`` removes ``command``, ``int()`` removes all of them). A value whose
kinds are all gone but which still remembers its origins is "sanitised": sinks
reached by it are recorded as such, which is how pattern-only alarms are demoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SQL = "sql"
CMD = "command"
CODE = "code"
TEMPLATE = "template"
XSS = "xss"
PATH = "path"
REDIRECT = "redirect"
SSRF = "ssrf"
LDAP = "ldap"
XPATH = "xpath"
TRUST = "trust"
DESER = "deserialization"
XML = "xml"
REGEX = "regex"
INFO = "info"

INJECTION: frozenset[str] = frozenset(
    {SQL, CMD, CODE, TEMPLATE, XSS, PATH, REDIRECT, SSRF, LDAP, XPATH, TRUST, DESER, XML, REGEX}
)
EVERYTHING: frozenset[str] = INJECTION | {INFO}


@dataclass(frozen=True)
class Origin:
    """Where a tainted value came from: a real source, or a function parameter (summaries)."""

    label: str
    line: int
    remote: bool = True
    env: bool = False
    param: int = -1

    @property
    def is_param(self) -> bool:
        return self.param >= 0


@dataclass(frozen=True)
class Taint:
    kinds: frozenset[str]
    origins: frozenset[Origin]
    steps: tuple[tuple[int, str], ...] = ()

    def without(self, kinds: frozenset[str]) -> Taint:
        return Taint(self.kinds - kinds, self.origins, self.steps)

    def only(self, kinds: frozenset[str]) -> Taint:
        return Taint(self.kinds & kinds, self.origins, self.steps)

    def step(self, line: int, text: str) -> Taint:
        if any(line == s[0] for s in self.steps) or len(self.steps) >= 8:
            return self
        return Taint(self.kinds, self.origins, (*self.steps, (line, text)))

    def sources(self) -> frozenset[Origin]:
        return frozenset(o for o in self.origins if not o.is_param)

    def params(self) -> frozenset[Origin]:
        return frozenset(o for o in self.origins if o.is_param)

    def dangerous(self, kind: str) -> bool:
        return kind in self.kinds


def union(*values: Taint | None) -> Taint | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    kinds: frozenset[str] = frozenset().union(*(v.kinds for v in present))
    origins: frozenset[Origin] = frozenset().union(*(v.origins for v in present))
    # Keep the path of a value that is still dangerous, it is the one worth explaining.
    best = max(present, key=lambda v: (len(v.kinds), len(v.steps)))
    return Taint(kinds, origins, best.steps)


def source(label: str, line: int, *, remote: bool = True, env: bool = False) -> Taint:
    origin = Origin(label, line, remote=remote, env=env)
    return Taint(INJECTION, frozenset({origin}), ((line, f"{label} (untrusted input)"),))


def error_source(label: str, line: int) -> Taint:
    origin = Origin(label, line)
    return Taint(frozenset({INFO}), frozenset({origin}), ((line, f"{label} (error details)"),))


@dataclass(frozen=True)
class SinkKind:
    kind: str
    cwe: int
    rule: str
    title: str
    severity: str  # for a remote source; local sources are one level lower, env two


SINK_KINDS: dict[str, SinkKind] = {
    k.kind: k
    for k in (
        SinkKind(SQL, 89, "sql-injection", "SQL injection", "critical"),
        SinkKind(CMD, 78, "command-injection", "OS command injection", "critical"),
        SinkKind(CODE, 95, "code-injection", "Code injection (eval/exec)", "critical"),
        SinkKind(
            TEMPLATE, 1336, "template-injection", "Server-side template injection", "critical"
        ),
        SinkKind(
            DESER, 502, "unsafe-deserialization", "Deserialization of untrusted data", "critical"
        ),
        SinkKind(PATH, 22, "path-traversal", "Path traversal", "high"),
        SinkKind(SSRF, 918, "ssrf", "Server-side request forgery", "high"),
        SinkKind(XML, 611, "xxe", "XML external entity / entity expansion", "high"),
        SinkKind(LDAP, 90, "ldap-injection", "LDAP injection", "high"),
        SinkKind(XPATH, 643, "xpath-injection", "XPath injection", "high"),
        SinkKind(XSS, 79, "xss", "Cross-site scripting", "high"),
        SinkKind(REDIRECT, 601, "open-redirect", "Open redirect", "medium"),
        SinkKind(TRUST, 501, "trust-boundary", "Trust boundary violation", "medium"),
        SinkKind(REGEX, 1333, "regex-injection", "Regular expression injection (ReDoS)", "medium"),
        SinkKind(INFO, 209, "error-exposure", "Exception details sent to the client", "medium"),
    )
}


@dataclass
class Summary:
    """What a local function does with its parameters, for calls from elsewhere in the file."""

    # param index -> kinds still dangerous when it comes back in the return value
    returns: dict[int, frozenset[str]] = field(default_factory=dict)
    return_source: Taint | None = None
    # (param index, sink kind, line, end line, cwe, detail)
    sinks: list[tuple[int, str, int, int, int, str]] = field(default_factory=list)


# ---------------------------------------------------------------- sources

FLASK_REQUEST = frozenset({"flask.request", "quart.request", "werkzeug.local.request"})

# Attributes and methods of a request object that are *not* attacker-controlled data.
REQUEST_CLEAN_ATTRS = frozenset(
    {
        "method",
        "user",
        "session",
        "auth",
        "app",
        "state",
        "scope",
        "get_host",
        "is_secure",
        "is_json",
        "endpoint",
        "url_rule",
        "blueprint",
        "content_length",
        "is_ajax",
        "resolver_match",
        "build_absolute_uri",
        "get_signed_cookie",
        "client",
        "url_for",
    }
)

ENV_SOURCES = frozenset({"os.getenv", "os.environ.get", "os.environ.__getitem__"})
LOCAL_SOURCE_CALLS = frozenset(
    {"input", "builtins.input", "raw_input", "sys.stdin.read", "sys.stdin.readline"}
)

# Framework types a route parameter may be annotated with that carry no user data.
CLEAN_ANNOTATIONS = frozenset(
    {
        "int",
        "float",
        "bool",
        "UUID",
        "uuid.UUID",
        "datetime",
        "date",
        "time",
        "Decimal",
        "Response",
        "BackgroundTasks",
        "Session",
        "AsyncSession",
        "HTTPConnection",
        "SecurityScopes",
    }
)
REQUEST_ANNOTATIONS = frozenset({"Request", "WebSocket", "HttpRequest"})
ROUTE_DECORATORS = frozenset(
    {"route", "get", "post", "put", "delete", "patch", "api_route", "websocket", "head", "options"}
)
DJANGO_VIEW_METHODS = frozenset({"get", "post", "put", "patch", "delete", "dispatch", "head"})

# ---------------------------------------------------------------- sanitisers

ALL_CLEAN_CALLS = frozenset(
    {
        "int",
        "float",
        "bool",
        "len",
        "abs",
        "round",
        "ord",
        "hash",
        "id",
        "uuid.UUID",
        "decimal.Decimal",
        "datetime.date.fromisoformat",
        "datetime.datetime.fromisoformat",
        "ipaddress.ip_address",
        "ipaddress.IPv4Address",
        "ipaddress.IPv6Address",
    }
)

SANITISERS: dict[str, frozenset[str]] = {
    "shlex.quote": frozenset({CMD}),
    "pipes.quote": frozenset({CMD}),
    "markupsafe.escape": frozenset({XSS}),
    "flask.escape": frozenset({XSS}),
    "jinja2.escape": frozenset({XSS}),
    "html.escape": frozenset({XSS}),
    "cgi.escape": frozenset({XSS}),
    "django.utils.html.escape": frozenset({XSS}),
    "django.utils.html.conditional_escape": frozenset({XSS}),
    "django.utils.html.format_html": frozenset({XSS}),
    "django.utils.html.strip_tags": frozenset({XSS}),
    "bleach.clean": frozenset({XSS}),
    "nh3.clean": frozenset({XSS}),
    "xml.sax.saxutils.escape": frozenset({XSS, XPATH}),
    "werkzeug.utils.secure_filename": frozenset({PATH, CMD}),
    "werkzeug.secure_filename": frozenset({PATH, CMD}),
    "os.path.basename": frozenset({PATH}),
    "posixpath.basename": frozenset({PATH}),
    "ntpath.basename": frozenset({PATH}),
    "werkzeug.utils.safe_join": frozenset({PATH}),
    "werkzeug.security.safe_join": frozenset({PATH}),
    "flask.safe_join": frozenset({PATH}),
    "django.utils._os.safe_join": frozenset({PATH}),
    "ldap3.utils.conv.escape_filter_chars": frozenset({LDAP}),
    "ldap3.utils.dn.escape_rdn": frozenset({LDAP}),
    "ldap.filter.escape_filter_chars": frozenset({LDAP}),
    "ldap.dn.escape_dn_chars": frozenset({LDAP}),
    "ldap.filter.filter_format": frozenset({LDAP}),
    "re.escape": frozenset({REGEX}),
    "psycopg2.sql.Identifier": frozenset({SQL}),
    "psycopg2.sql.Literal": frozenset({SQL}),
    "psycopg.sql.Identifier": frozenset({SQL}),
    "psycopg.sql.Literal": frozenset({SQL}),
}

# Functions that return their (tainted) argument transformed but not neutralised.
PASSTHROUGH_CALLS = frozenset(
    {
        "str",
        "repr",
        "bytes",
        "bytearray",
        "format",
        "list",
        "tuple",
        "set",
        "frozenset",
        "dict",
        "sorted",
        "reversed",
        "next",
        "iter",
        "min",
        "max",
        "getattr",
        "os.path.join",
        "os.path.normpath",
        "os.path.abspath",
        "os.path.realpath",
        "os.path.expanduser",
        "os.path.expandvars",
        "os.path.dirname",
        "os.path.splitext",
        "os.fspath",
        "posixpath.join",
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "base64.b64decode",
        "base64.b64encode",
        "base64.urlsafe_b64decode",
        "base64.urlsafe_b64encode",
        "base64.b32decode",
        "binascii.unhexlify",
        "binascii.a2b_base64",
        "codecs.decode",
        "zlib.decompress",
        "gzip.decompress",
        "json.loads",
        "json.load",
        "json.dumps",
        "html.unescape",
        "urllib.parse.unquote",
        "urllib.parse.unquote_plus",
        "urllib.parse.urlparse",
        "urllib.parse.urlsplit",
        "urllib.parse.urljoin",
        "urllib.parse.parse_qs",
        "urllib.parse.parse_qsl",
        "urllib.parse.quote",
        "urllib.parse.quote_plus",
        "urllib.parse.urlencode",
        "urllib.parse.urlunparse",
        "textwrap.dedent",
        "copy.copy",
        "copy.deepcopy",
        "shlex.split",
        "re.sub",
        "re.match",
        "re.search",
        "re.fullmatch",
        "re.findall",
        "io.BytesIO",
        "io.StringIO",
        "tarfile.open",
        "zipfile.ZipFile",
        "collections.OrderedDict",
        "markupsafe.Markup",
        "flask.Markup",
    }
)

STRING_METHODS = frozenset(
    {
        "format",
        "format_map",
        "join",
        "replace",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "title",
        "capitalize",
        "casefold",
        "swapcase",
        "split",
        "rsplit",
        "splitlines",
        "partition",
        "rpartition",
        "removeprefix",
        "removesuffix",
        "ljust",
        "rjust",
        "center",
        "zfill",
        "expandtabs",
        "translate",
        "encode",
        "decode",
        "__add__",
        "__mod__",
    }
)

# Methods of tainted values whose result is not data (booleans, counts, positions).
NON_DATA_METHODS = frozenset(
    {
        "startswith",
        "endswith",
        "isdigit",
        "isnumeric",
        "isdecimal",
        "isalnum",
        "isalpha",
        "isidentifier",
        "isspace",
        "islower",
        "isupper",
        "istitle",
        "isascii",
        "count",
        "find",
        "rfind",
        "index",
        "rindex",
        "exists",
        "is_file",
        "is_dir",
        "is_relative_to",
        "is_absolute",
        "hexdigest",
        "digest",
        "__len__",
        "keys",
    }
)

VALIDATOR_NAME_WORDS = (
    "safe",
    "allowed",
    "valid",
    "trusted",
    "permitted",
    "whitelisted",
    "allowlisted",
)
TRUSTED_RESULT_PREFIXES = (
    "validate",
    "verify",
    "authenticate",
    "sanitize",
    "sanitise",
    "escape",
    "clean",
)

NORMALISING = frozenset(
    {
        "os.path.realpath",
        "os.path.abspath",
        "os.path.normpath",
        "posixpath.realpath",
        "posixpath.abspath",
    }
)

NORETURN = frozenset(
    {
        "flask.abort",
        "abort",
        "werkzeug.exceptions.abort",
        "sys.exit",
        "exit",
        "quit",
        "os._exit",
        "django.core.exceptions.PermissionDenied",
    }
)
