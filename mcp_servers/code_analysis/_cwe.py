"""What we know about each weakness: name, family, OWASP Top 10 (2021) category, the fix.

Families group CWEs that describe the same mistake (CWE-94 and CWE-95, CWE-327 and
CWE-328...): findings of one family on the same lines are one problem.
"""

from __future__ import annotations

from dataclasses import dataclass

OWASP_2021: dict[str, tuple[str, str]] = {
    "A01": ("Broken Access Control", "https://owasp.org/Top10/A01_2021-Broken_Access_Control/"),
    "A02": ("Cryptographic Failures", "https://owasp.org/Top10/A02_2021-Cryptographic_Failures/"),
    "A03": ("Injection", "https://owasp.org/Top10/A03_2021-Injection/"),
    "A04": ("Insecure Design", "https://owasp.org/Top10/A04_2021-Insecure_Design/"),
    "A05": (
        "Security Misconfiguration",
        "https://owasp.org/Top10/A05_2021-Security_Misconfiguration/",
    ),
    "A06": (
        "Vulnerable and Outdated Components",
        "https://owasp.org/Top10/A06_2021-Vulnerable_and_Outdated_Components/",
    ),
    "A07": (
        "Identification and Authentication Failures",
        "https://owasp.org/Top10/A07_2021-Identification_and_Authentication_Failures/",
    ),
    "A08": (
        "Software and Data Integrity Failures",
        "https://owasp.org/Top10/A08_2021-Software_and_Data_Integrity_Failures/",
    ),
    "A09": (
        "Security Logging and Monitoring Failures",
        "https://owasp.org/Top10/A09_2021-Security_Logging_and_Monitoring_Failures/",
    ),
    "A10": (
        "Server-Side Request Forgery (SSRF)",
        "https://owasp.org/Top10/A10_2021-Server-Side_Request_Forgery_%28SSRF%29/",
    ),
}

# Categories a static look at one file cannot judge (dependency versions, logging practice).
NOT_ASSESSED = frozenset({"A06", "A09"})


@dataclass(frozen=True)
class CweInfo:
    cwe: int
    name: str
    family: str
    owasp: str | None
    recommendation: str
    example_fix: str = ""


def _i(cwe: int, name: str, family: str, owasp: str | None, rec: str, fix: str = "") -> CweInfo:  # noqa: PLR0917
    return CweInfo(cwe, name, family, owasp, rec, fix)


_CATALOG: tuple[CweInfo, ...] = (
    _i(
        89,
        "SQL Injection",
        "sql",
        "A03",
        "Pass user input as query parameters (placeholders), never by formatting or concatenating it into the SQL text.",
        'cur.execute("SELECT * FROM users WHERE name = %s", (name,))',
    ),
    _i(564, "SQL Injection: Hibernate", "sql", "A03", "Use bound parameters."),
    _i(
        78,
        "OS Command Injection",
        "command",
        "A03",
        "Run the program with an argument list and shell=False; if a shell is unavoidable, quote each value with shlex.quote or check it against an allow-list.",
        'subprocess.run(["ping", "-c", "1", host], check=True)',
    ),
    _i(77, "Command Injection", "command", "A03", "Use argument lists, not shell strings."),
    _i(88, "Argument Injection", "command", "A03", "Separate options from values with '--'."),
    _i(
        95,
        "Eval Injection",
        "code",
        "A03",
        "Never evaluate user input as code: parse data with ast.literal_eval or json, and dispatch to functions through an explicit mapping.",
        "value = ast.literal_eval(expression)",
    ),
    _i(94, "Code Injection", "code", "A03", "Do not build code from user input."),
    _i(
        1336,
        "Server-Side Template Injection",
        "code",
        "A03",
        "Keep the template text constant and pass user values as template variables.",
        'render_template_string("Hello {{ name }}", name=name)',
    ),
    _i(
        79,
        "Cross-site Scripting (XSS)",
        "xss",
        "A03",
        "Escape user data for HTML (markupsafe.escape, django.utils.html.escape/format_html) or render it through an autoescaping template.",
        'return f"<h2>Results for {escape(q)}</h2>"',
    ),
    _i(80, "Basic XSS", "xss", "A03", "Escape user data for HTML."),
    _i(
        22,
        "Path Traversal",
        "path",
        "A01",
        "Reduce the user's value to a bare file name (werkzeug.utils.secure_filename, os.path.basename) or resolve the path and check it stays inside the base directory.",
        "path = (BASE / name).resolve()\nif not path.is_relative_to(BASE):\n    abort(404)",
    ),
    _i(
        601,
        "Open Redirect",
        "redirect",
        "A01",
        "Redirect only to relative URLs or to hosts on an allow-list (django.utils.http.url_has_allowed_host_and_scheme, a urlparse(...).netloc check).",
        'if not url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):\n    url = "/"',
    ),
    _i(
        90,
        "LDAP Injection",
        "ldap",
        "A03",
        "Escape values put into LDAP filters (ldap3.utils.conv.escape_filter_chars, ldap.filter.filter_format) and DNs (ldap.dn.escape_dn_chars).",
        'conn.search(base, f"(uid={escape_filter_chars(user)})")',
    ),
    _i(
        643,
        "XPath Injection",
        "xpath",
        "A03",
        "Keep the XPath expression constant and pass user values as XPath variables (lxml: tree.xpath('//u[name=$n]', n=value)), or filter nodes in Python.",
        'tree.xpath("//user[name=$name]", name=name)',
    ),
    _i(
        501,
        "Trust Boundary Violation",
        "trust",
        "A04",
        "Validate request data (allow-list, type conversion, server-side lookup) before storing it in the session, where later code treats it as trusted.",
        'if role not in ROLES:\n    abort(400)\nsession["role"] = role',
    ),
    _i(
        918,
        "Server-Side Request Forgery (SSRF)",
        "ssrf",
        "A10",
        "Fetch only URLs whose host is on an allow-list, or build the URL from a constant scheme and host with the user value quoted into the path.",
        "if urlparse(url).hostname not in ALLOWED_HOSTS:\n    abort(400)",
    ),
    _i(
        611,
        "XML External Entity (XXE)",
        "xml",
        "A05",
        "Parse untrusted XML with defusedxml, or with an lxml parser built with resolve_entities=False, no_network=True and no DTD loading.",
        "parser = etree.XMLParser(resolve_entities=False, no_network=True)",
    ),
    _i(
        776,
        "XML Entity Expansion",
        "xml",
        "A05",
        "Parse untrusted XML with defusedxml (defusedxml.ElementTree.fromstring) to refuse entity expansion bombs.",
        "import defusedxml.ElementTree as ET",
    ),
    _i(
        502,
        "Deserialization of Untrusted Data",
        "deserialization",
        "A08",
        "Never unpickle or YAML-load untrusted data: use json, or yaml.safe_load, and sign data you must round-trip.",
        "spec = yaml.safe_load(request.data)",
    ),
    _i(
        798,
        "Hard-coded Credentials",
        "credentials",
        "A07",
        "Read secrets from the environment or a secret manager at start-up; never commit them. Rotate any secret that was committed.",
        'app.config["SECRET_KEY"] = os.environ["FLASK_SECRET_KEY"]',
    ),
    _i(259, "Hard-coded Password", "credentials", "A07", "Read passwords from configuration."),
    _i(
        327,
        "Broken or Risky Cryptographic Algorithm",
        "crypto",
        "A02",
        "Use a modern authenticated cipher (AES-GCM, ChaCha20-Poly1305) and never ECB mode; keep DES, 3DES, RC4 and Blowfish out of new code.",
        "cipher = AES.new(key, AES.MODE_GCM)",
    ),
    _i(
        328,
        "Weak Hash",
        "crypto",
        "A02",
        "Use SHA-256 or better for integrity, HMAC for message authentication, and a password KDF (scrypt, argon2, bcrypt, PBKDF2) for passwords. Mark non-security uses with usedforsecurity=False.",
        "hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)",
    ),
    _i(326, "Inadequate Encryption Strength", "crypto", "A02", "Use longer keys."),
    _i(
        330,
        "Insufficiently Random Values",
        "randomness",
        "A02",
        "Generate tokens, passwords, session ids and codes with the secrets module (secrets.token_urlsafe, secrets.choice, secrets.randbelow).",
        "token = secrets.token_urlsafe(32)",
    ),
    _i(338, "Weak PRNG", "randomness", "A02", "Use the secrets module."),
    _i(
        489,
        "Active Debug Code",
        "debug",
        "A05",
        "Never ship with debug mode on: read the flag from the environment and default it to off.",
        'app.run(debug=os.environ.get("FLASK_DEBUG") == "1")',
    ),
    _i(
        215,
        "Debug Information Exposure",
        "debug",
        "A05",
        "Turn debug tracebacks off in deployed configurations.",
        'FastAPI(debug=os.getenv("APP_DEBUG") == "1")',
    ),
    _i(
        295,
        "Improper Certificate Validation",
        "tls",
        "A07",
        "Keep certificate and host-name verification on; to trust a private CA, pass its bundle (verify='/path/ca.pem', load_verify_locations).",
        'requests.get(url, timeout=10, verify="/etc/ssl/certs/internal-ca.pem")',
    ),
    _i(
        614,
        "Sensitive Cookie Without 'Secure'",
        "cookie",
        "A05",
        "Set session and token cookies with secure=True, httponly=True and samesite='Lax' or 'Strict'.",
        'resp.set_cookie("session", token, secure=True, httponly=True, samesite="Lax")',
    ),
    _i(
        1004,
        "Sensitive Cookie Without 'HttpOnly'",
        "cookie",
        "A05",
        "Set httponly=True on cookies scripts do not need.",
        'response.set_cookie(key="refresh_token", value=token, httponly=True, secure=True)',
    ),
    _i(
        352,
        "Cross-Site Request Forgery (CSRF)",
        "csrf",
        "A01",
        "Keep CSRF protection on for state-changing requests; remove @csrf_exempt and WTF_CSRF_ENABLED=False, or authenticate such endpoints with tokens not sent automatically by browsers.",
        "@require_POST\ndef change_email(request): ...",
    ),
    _i(
        209,
        "Error Message Information Exposure",
        "info",
        "A04",
        "Log the exception on the server and return a generic message; never send exception text or tracebacks to clients.",
        'log.exception("import failed")\nreturn {"error": "import failed"}, 500',
    ),
    _i(497, "Exposure of System Data", "info", "A01", "Return generic messages."),
    _i(
        1333,
        "Regular Expression Injection / ReDoS",
        "regex",
        "A03",
        "Do not compile user input as a regular expression: escape it with re.escape, or match literally with the 'in' operator.",
        "pattern = re.escape(user_input)",
    ),
    _i(730, "Regular Expression Denial of Service", "regex", "A03", "Escape user patterns."),
    _i(
        347,
        "Improper Verification of Cryptographic Signature",
        "jwt",
        "A02",
        "Always verify JWT signatures with the expected key and an explicit algorithm list that excludes 'none'.",
        'jwt.decode(token, key, algorithms=["RS256"], audience="api")',
    ),
    _i(
        377,
        "Insecure Temporary File",
        "tempfile",
        "A01",
        "Create temporary files with tempfile.mkstemp / NamedTemporaryFile / TemporaryDirectory.",
        "fd, path = tempfile.mkstemp()",
    ),
    _i(
        732,
        "Incorrect Permission Assignment",
        "permissions",
        "A01",
        "Give files the narrowest mode that works (0o600 for secrets, 0o644 for public files).",
        "os.chmod(path, 0o600)",
    ),
    _i(
        605,
        "Binding to All Interfaces",
        "bind",
        "A05",
        "Bind to 127.0.0.1 unless the service must be reachable from other hosts, and then put it behind a firewall.",
    ),
    _i(
        400,
        "Uncontrolled Resource Consumption",
        "resource",
        None,
        "Bound every network call with a timeout and every input with a size limit.",
        "requests.get(url, timeout=10)",
    ),
    _i(
        703,
        "Improper Handling of Exceptional Conditions",
        "exceptions",
        None,
        "Catch the specific exception you expect and log or handle it; do not silence everything.",
    ),
    _i(
        20,
        "Improper Input Validation",
        "validation",
        "A03",
        "Validate input against what the code expects.",
    ),
    _i(
        117,
        "Log Injection",
        "logging",
        "A09",
        "Pass user values as logging arguments and strip line breaks.",
    ),
    _i(
        319,
        "Cleartext Transmission of Sensitive Information",
        "cleartext",
        "A02",
        "Use TLS-protected protocols (HTTPS, SFTP, FTPS, SMTP with STARTTLS).",
    ),
)

CATALOG: dict[int, CweInfo] = {entry.cwe: entry for entry in _CATALOG}


def info(cwe: int | None) -> CweInfo | None:
    return CATALOG.get(cwe) if cwe is not None else None


def family(cwe: int | None) -> str:
    found = info(cwe)
    return found.family if found else f"cwe-{cwe}" if cwe else "other"


def cwe_url(cwe: int) -> str:
    return f"https://cwe.mitre.org/data/definitions/{cwe}.html"


def owasp_of(cwe: int | None) -> str | None:
    found = info(cwe)
    return found.owasp if found else None


def references(cwe: int | None, extra: tuple[str, ...] = ()) -> list[str]:
    refs: list[str] = []
    if cwe:
        refs.append(cwe_url(cwe))
        owasp = owasp_of(cwe)
        if owasp:
            refs.append(OWASP_2021[owasp][1])
    refs.extend(u for u in extra if u and u not in refs)
    return refs


# Bandit's own CWE for some tests is too broad or wrong; these are the weaknesses the
# test actually detects.
BANDIT_CWE: dict[str, int] = {
    "B101": 703,
    "B102": 95,  # exec: bandit says CWE-78
    "B103": 732,
    "B104": 605,
    "B105": 798,
    "B106": 798,
    "B107": 798,
    "B108": 377,
    "B110": 703,
    "B112": 703,
    "B113": 400,
    "B201": 489,  # flask debug: bandit says CWE-94
    "B202": 22,
    "B301": 502,
    "B302": 502,
    "B303": 328,
    "B304": 327,
    "B305": 327,
    "B306": 377,
    "B307": 95,  # eval: bandit says CWE-78
    "B308": 79,
    "B310": 918,  # urlopen with arbitrary schemes: bandit says CWE-22
    "B311": 330,
    "B312": 319,
    "B313": 776,
    "B314": 776,
    "B315": 776,
    "B316": 776,
    "B317": 776,
    "B318": 776,
    "B319": 776,
    "B320": 611,
    "B321": 319,
    "B323": 295,
    "B324": 328,
    "B401": 319,
    "B402": 319,
    "B403": 502,
    "B404": 78,
    "B405": 776,
    "B406": 776,
    "B407": 776,
    "B408": 776,
    "B409": 776,
    "B410": 611,
    "B411": 776,
    "B413": 327,
    "B415": 327,
    "B501": 295,
    "B502": 327,
    "B503": 327,
    "B504": 327,
    "B505": 326,
    "B506": 502,  # yaml.load: bandit says CWE-20
    "B507": 295,
    "B508": 319,
    "B509": 319,
    "B601": 78,
    "B602": 78,
    "B603": 78,
    "B604": 78,
    "B605": 78,
    "B606": 78,
    "B607": 78,
    "B608": 89,
    "B609": 78,
    "B610": 89,
    "B611": 89,
    "B612": 94,
    "B613": 838,
    "B614": 502,
    "B615": 494,
    "B701": 79,  # jinja2 autoescape off: bandit says CWE-94
    "B702": 79,
    "B703": 79,
    "B704": 79,
}

# Ruff's flake8-bandit rules carry no CWE; these are the ones its rules describe.
RUFF_CWE: dict[str, int] = {
    "S102": 95,
    "S103": 732,
    "S104": 605,
    "S105": 798,
    "S106": 798,
    "S107": 798,
    "S108": 377,
    "S110": 703,
    "S112": 703,
    "S113": 400,
    "S201": 489,
    "S202": 22,
    "S301": 502,
    "S302": 502,
    "S303": 328,
    "S304": 327,
    "S305": 327,
    "S306": 377,
    "S307": 95,
    "S308": 79,
    "S310": 918,
    "S311": 330,
    "S312": 319,
    "S313": 776,
    "S314": 776,
    "S315": 776,
    "S316": 776,
    "S317": 776,
    "S318": 776,
    "S319": 776,
    "S320": 611,
    "S321": 319,
    "S323": 295,
    "S324": 328,
    "S401": 319,
    "S402": 319,
    "S403": 502,
    "S404": 78,
    "S405": 776,
    "S406": 776,
    "S407": 776,
    "S408": 776,
    "S409": 776,
    "S410": 611,
    "S411": 776,
    "S413": 327,
    "S415": 327,
    "S501": 295,
    "S502": 327,
    "S503": 327,
    "S504": 327,
    "S505": 326,
    "S506": 502,
    "S507": 295,
    "S508": 319,
    "S509": 319,
    "S601": 78,
    "S602": 78,
    "S603": 78,
    "S604": 78,
    "S605": 78,
    "S606": 78,
    "S607": 78,
    "S608": 89,
    "S609": 78,
    "S610": 89,
    "S611": 89,
    "S612": 94,
    "S701": 79,
    "S702": 79,
    "S704": 79,
}

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}
CONFIDENCES = ("low", "medium", "high")


def bump(severity: str, levels: int) -> str:
    rank = max(0, min(len(SEVERITIES) - 1, SEVERITY_RANK[severity] + levels))
    return SEVERITIES[rank]
