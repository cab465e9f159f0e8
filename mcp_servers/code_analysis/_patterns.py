"""Our own security rules for mistakes that need no data flow, only context.

Debug switches, cookie flags, CSRF opt-outs, JWT verification, TLS verification,
weak cryptography, predictable randomness and hard-coded secrets. Each rule looks
at the evidence around the call (the names it is assigned to, the function it is
in, the value of the literal) to set severity and confidence, so ``random`` used to
shuffle a quiz stays low while ``random`` used for a reset token is high.
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import Finding
from mcp_servers.code_analysis._pyast import (
    ImportMap,
    dotted,
    end_line,
    is_false,
    is_true,
    keyword,
    literal_str,
    qualify,
)

_SECURITY_WORDS = re.compile(
    r"(token|secret|passw|pwd|otp|nonce|salt|session|(^|_)sid($|_)|csrf|xsrf|api_?key|reset|auth|"
    r"verif|captcha|(^|_)pin($|_)|(^|_)key($|_)|signature|(^|_)sign($|_)|signing|credential|"
    r"login|invite|activation|unsubscribe|confirm)",
    re.IGNORECASE,
)
_PASSWORD_WORDS = re.compile(
    r"(passw|pwd|credential|secret|sign|hmac|token|auth|key)", re.IGNORECASE
)
_CREDENTIAL_NAME = re.compile(
    r"(passw|pwd|secret|api_?key|apikey|access_?key|private_?key|auth_?key|client_?secret|"
    r"(^|_)token($|_)|credential|signing_?key|encryption_?key|master_?key)",
    re.IGNORECASE,
)
_NOT_A_CREDENTIAL_NAME = re.compile(
    r"(header|field|url|uri|endpoint|path|file|name|prefix|suffix|type|label|env|var|param|"
    r"pattern|regex|format|template|length|len|min|max|policy|hash_?alg|algorithm|id$|_id_|"
    r"cookie|key_?id|scope|message|error|help|placeholder|column)",
    re.IGNORECASE,
)
_SENSITIVE_COOKIE = re.compile(
    r"(session|sid|token|auth|jwt|refresh|remember|csrf|xsrf|login|access|identity)", re.IGNORECASE
)
_RANDOM_FUNCS = frozenset(
    {
        "random.random",
        "random.randint",
        "random.randrange",
        "random.choice",
        "random.choices",
        "random.getrandbits",
        "random.sample",
        "random.shuffle",
        "random.uniform",
        "random.randbytes",
        "numpy.random.randint",
        "numpy.random.rand",
        "numpy.random.choice",
    }
)
_WEAK_HASHES = frozenset({"md5", "sha1", "md4", "md2", "sha"})
_WEAK_CIPHERS = frozenset({"DES", "DES3", "ARC2", "ARC4", "Blowfish", "CAST", "XOR"})
_WEAK_CRYPTOGRAPHY_ALGORITHMS = frozenset(
    {"TripleDES", "Blowfish", "ARC4", "IDEA", "CAST5", "SEED"}
)
_DJANGO_SETTINGS_MARKERS = frozenset(
    {
        "INSTALLED_APPS",
        "MIDDLEWARE",
        "ROOT_URLCONF",
        "DATABASES",
        "ALLOWED_HOSTS",
        "WSGI_APPLICATION",
    }
)
_SAX_EXTERNAL = (
    "feature_external_ges",
    "feature_external_pes",
    "external-general-entities",
    "external-parameter-entities",
)


def _entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def looks_like_secret(value: str) -> bool:
    """A literal that could be a real credential rather than a field name or placeholder."""
    stripped = value.strip()
    if len(stripped) < 6:
        return False
    if re.fullmatch(r"[<{$%\[].*[>}\]]?", stripped) or stripped.startswith(("${", "{{", "<")):
        return False
    if re.fullmatch(r"[A-Za-z][A-Za-z_\-]*", stripped) and len(stripped) <= 24:
        lowered = stripped.lower()
        if _CREDENTIAL_NAME.search(lowered) or lowered in ("authorization", "bearer", "basic"):
            return False
    if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", stripped):  # dotted module path
        return False
    return not stripped.startswith(("http://", "https://", "/"))


class _Visitor(ast.NodeVisitor):
    def visit_Constant(self, node: ast.Constant) -> None:
        """Leaves: skip NodeVisitor's slow fallback for the deprecated visit_Str & co."""

    def __init__(self, imports: ImportMap, path: str) -> None:
        self.imports = imports
        self.path = path
        self.findings: list[Finding] = []
        self.functions: list[str] = []
        self.targets: list[str] = []
        self.is_django_settings = False
        self.uses_web = any(
            imports.uses(m)
            for m in ("flask", "django", "fastapi", "starlette", "werkzeug", "quart")
        )

    # ---------------------------------------------------------------- helpers

    def add(  # noqa: PLR0917
        self,
        rule: str,
        node: ast.AST,
        cwe: int,
        severity: str,
        title: str,
        message: str,
        confidence: str = "high",
    ) -> None:
        info = _cwe.info(cwe)
        self.findings.append(
            Finding(
                rule_id=f"pattern/{rule}",
                analyser="patterns",
                category="security",
                title=title,
                message=message,
                line_start=getattr(node, "lineno", 1),
                line_end=end_line(node),
                severity=severity,
                confidence=confidence,
                cwe=cwe,
                recommendation=info.recommendation if info else "",
                example_fix=info.example_fix if info else "",
                evidence="pattern",
            )
        )

    def qual(self, node: ast.AST) -> str:
        return qualify(node, self.imports) or ""

    def context_names(self) -> list[str]:
        return [*self.targets, *self.functions[-1:]]

    # ---------------------------------------------------------------- traversal

    def visit_Module(self, node: ast.Module) -> None:
        names = {
            t.id
            for stmt in node.body
            if isinstance(stmt, ast.Assign)
            for t in stmt.targets
            if isinstance(t, ast.Name)
        }
        self.is_django_settings = (
            len(names & _DJANGO_SETTINGS_MARKERS) >= 2 or "settings" in self.path.rsplit("/", 1)[-1]
        )
        self.generic_visit(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            name = self.qual(target)
            if (
                name.endswith("csrf_exempt")
                or name.endswith("csrf.exempt")
                or name == "csrf_exempt"
            ):
                self.add(
                    "csrf-exempt",
                    deco,
                    352,
                    "medium",
                    "CSRF protection disabled for a view",
                    f"{node.name}() is exempt from CSRF checks, so another site can make a logged-in browser call it.",
                )
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Assign(self, node: ast.Assign) -> None:
        names = [n for t in node.targets if (n := _target_name(t))]
        self.targets = names
        for target in node.targets:
            self._check_assignment(target, node.value, node)
        self.visit(node.value)
        self.targets = []

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            name = _target_name(node.target)
            self.targets = [name] if name else []
            self._check_assignment(node.target, node.value, node)
            self.visit(node.value)
            self.targets = []

    def visit_Return(self, node: ast.Return) -> None:
        self.targets = []
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qual(node.func)
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        self._check_call(node, name, method)
        saved = self.targets
        for kw in node.keywords:
            if kw.arg:
                self.targets = [*saved, kw.arg]
            self.visit(kw.value)
            self.targets = saved
        for argument in node.args:
            self.visit(argument)
        self.visit(node.func)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            label = literal_str(key) if key is not None else None
            if (
                label
                and _CREDENTIAL_NAME.search(label)
                and not _NOT_A_CREDENTIAL_NAME.search(label)
            ):
                text = literal_str(value)
                if text is not None and looks_like_secret(text):
                    self._credential(value, label, text)
        self.generic_visit(node)

    # ---------------------------------------------------------------- assignments

    def _check_assignment(self, target: ast.expr, value: ast.expr, stmt: ast.stmt) -> None:
        name = _target_name(target) or ""
        text = literal_str(value)
        at_module = not self.functions
        if (
            text is not None
            and name
            and _CREDENTIAL_NAME.search(name)
            and not _NOT_A_CREDENTIAL_NAME.search(name)
        ) and looks_like_secret(text):
            self._credential(stmt, name, text)
        upper = name.upper()
        is_config = (
            isinstance(target, ast.Subscript) and "config" in (dotted(target.value) or "").lower()
        )
        if (
            upper == "DEBUG"
            and is_true(value)
            and ((at_module and self.is_django_settings) or is_config)
        ):
            self.add(
                "debug-enabled",
                stmt,
                489,
                "medium" if not is_config else "high",
                "Debug mode switched on",
                "Debug mode shows tracebacks, settings and (Flask/Werkzeug) an interactive console to anyone who triggers an error.",
            )
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "debug"
            and is_true(value)
            and self.uses_web
        ):
            self.add(
                "debug-enabled",
                stmt,
                489,
                "high",
                "Debug mode switched on",
                "app.debug = True enables the interactive debugger.",
            )
        if upper in ("WTF_CSRF_ENABLED", "WTF_CSRF_CHECK_DEFAULT") and is_false(value):
            self.add(
                "csrf-disabled",
                stmt,
                352,
                "medium",
                "CSRF protection switched off",
                f"{upper} = False turns off Flask-WTF's CSRF checks for every form.",
            )
        if upper in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE") and is_false(value):
            self.add(
                "cookie-not-secure",
                stmt,
                614,
                "medium",
                "Session cookie sent over plain HTTP",
                f"{upper} = False lets the browser send the cookie without TLS, where it can be read on the network.",
            )
        if (
            upper in ("SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_HTTPONLY")
            and is_false(value)
            and upper.startswith("SESSION")
        ):
            self.add(
                "cookie-not-httponly",
                stmt,
                1004,
                "medium",
                "Session cookie readable by scripts",
                f"{upper} = False lets any injected script read the session cookie.",
            )
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "verify_mode"
            and self.qual(value).endswith("CERT_NONE")
        ):
            self.add(
                "tls-no-verify",
                stmt,
                295,
                "high",
                "TLS certificate verification disabled",
                "verify_mode = CERT_NONE accepts any certificate, so a man in the middle can read and change the traffic.",
            )
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "check_hostname"
            and is_false(value)
        ):
            self.add(
                "tls-no-hostname-check",
                stmt,
                295,
                "medium",
                "TLS host-name check disabled",
                "check_hostname = False accepts a valid certificate for any other host.",
            )

    def _credential(self, node: ast.AST, name: str, text: str) -> None:
        strong = len(text) >= 12 and _entropy(text) >= 3.0
        self.add(
            "hardcoded-credential",
            node,
            798,
            "high",
            "Hard-coded credential",
            f"'{name}' is set to a literal secret ({len(text)} characters) committed with the code.",
            confidence="high" if strong else "medium",
        )

    # ---------------------------------------------------------------- calls

    def _check_call(self, node: ast.Call, name: str, method: str) -> None:  # noqa: PLR0915
        last = name.rsplit(".", maxsplit=1)[-1]
        # debug switches
        if (
            method == "run"
            and is_true(keyword(node, "debug"))
            and (self.imports.uses("flask") or self.imports.uses("quart"))
        ):
            self.add(
                "flask-debug",
                node,
                489,
                "high",
                "Flask debug mode in app.run()",
                "app.run(debug=True) starts the Werkzeug debugger, which runs arbitrary Python for anyone who can reach it.",
            )
        if name in ("werkzeug.serving.run_simple", "werkzeug.run_simple") and (
            is_true(keyword(node, "use_debugger")) or is_true(keyword(node, "use_evalex"))
        ):
            self.add(
                "werkzeug-debugger",
                node,
                489,
                "high",
                "Werkzeug interactive debugger enabled",
                "run_simple(use_debugger=True) exposes an interactive Python console on errors.",
            )
        if (
            name.split(".", maxsplit=1)[0] in ("fastapi", "starlette")
            and last in ("FastAPI", "Starlette")
            and is_true(keyword(node, "debug"))
        ):
            self.add(
                "debug-tracebacks",
                node,
                215,
                "medium",
                "Debug tracebacks returned to clients",
                f"{last}(debug=True) sends full tracebacks with source lines to whoever triggers an error.",
            )
        if name.endswith("DebuggedApplication") and is_true(keyword(node, "evalex")):
            self.add(
                "werkzeug-debugger",
                node,
                489,
                "high",
                "Werkzeug interactive debugger enabled",
                "DebuggedApplication(evalex=True) runs code sent by the browser.",
            )
        if (
            method == "update"
            and isinstance(node.func, ast.Attribute)
            and "config" in (dotted(node.func.value) or "")
        ):
            for kw in node.keywords:
                if kw.arg == "DEBUG" and is_true(kw.value):
                    self.add(
                        "debug-enabled",
                        kw.value,
                        489,
                        "high",
                        "Debug mode switched on",
                        "config DEBUG=True enables the debugger.",
                    )
                if kw.arg == "WTF_CSRF_ENABLED" and is_false(kw.value):
                    self.add(
                        "csrf-disabled",
                        kw.value,
                        352,
                        "medium",
                        "CSRF protection switched off",
                        "WTF_CSRF_ENABLED=False turns off CSRF checks.",
                    )

        # template autoescaping
        if name in ("jinja2.Environment", "jinja2.environment.Environment"):
            autoescape = keyword(node, "autoescape")
            if autoescape is None or is_false(autoescape):
                self.add(
                    "jinja-autoescape-off",
                    node,
                    79,
                    "high" if autoescape is not None else "medium",
                    "Jinja2 environment without autoescaping",
                    "Templates rendered by this Environment insert values as raw HTML; pass autoescape=select_autoescape().",
                    confidence="high" if autoescape is not None else "medium",
                )

        # cookies
        if method == "set_cookie" and self.uses_web:
            self._cookie(node)

        # JWT
        if name in ("jwt.decode", "jose.jwt.decode", "jwt.api_jwt.decode"):
            self._jwt(node)

        # TLS
        verify = keyword(node, "verify")
        if is_false(verify) and (
            name.split(".", maxsplit=1)[0] in ("requests", "httpx")
            or method in ("get", "post", "put", "patch", "delete", "request", "head")
        ):
            self.add(
                "tls-no-verify",
                node,
                295,
                "high",
                "TLS certificate verification disabled",
                f"{name or method}(verify=False) accepts any certificate, so a man in the middle can read and change the traffic.",
            )
        if name in ("ssl._create_unverified_context", "ssl._create_stdlib_context"):
            self.add(
                "tls-unverified-context",
                node,
                295,
                "high",
                "Unverified TLS context",
                f"{name}() builds a context that checks neither certificates nor host names.",
            )
        if name == "ssl.wrap_socket" and self.qual(
            keyword(node, "cert_reqs") or ast.Constant(None)
        ).endswith("CERT_NONE"):
            self.add(
                "tls-no-verify",
                node,
                295,
                "high",
                "TLS certificate verification disabled",
                "ssl.wrap_socket(cert_reqs=CERT_NONE) accepts any certificate.",
            )
        if method == "set_missing_host_key_policy" and node.args:
            policy = node.args[0]
            policy_name = self.qual(policy.func if isinstance(policy, ast.Call) else policy)
            if policy_name.endswith(("AutoAddPolicy", "WarningPolicy")):
                self.add(
                    "ssh-no-host-key-check",
                    node,
                    295,
                    "high",
                    "SSH host keys accepted without verification",
                    f"{policy_name.split('.')[-1]} trusts any host key, so the connection can be intercepted.",
                )

        # weak hashes
        hash_name = ""
        if name.startswith("hashlib.") and last in _WEAK_HASHES:
            hash_name = last
        elif name == "hashlib.new" and node.args:
            hash_name = (literal_str(node.args[0]) or "").lower()
        if hash_name in _WEAK_HASHES and not is_false(keyword(node, "usedforsecurity")):
            security = any(_PASSWORD_WORDS.search(n) for n in self.context_names())
            self.add(
                "weak-hash",
                node,
                328,
                "high" if security else "medium",
                f"Weak hash {hash_name.upper()}",
                f"{hash_name.upper()} is broken for security use"
                + (
                    " and this one protects a password, token or signature."
                    if security
                    else "; mark non-security uses with usedforsecurity=False."
                ),
                confidence="high" if security else "medium",
            )

        # weak ciphers
        module = name.rsplit(".", 1)[0] if "." in name else ""
        if (
            last == "new"
            and module.split(".")[-1] in _WEAK_CIPHERS
            and module.startswith(("Crypto.Cipher", "Cryptodome.Cipher"))
        ):
            cipher = module.split(".")[-1]
            self.add(
                "weak-cipher",
                node,
                327,
                "high",
                f"Broken cipher {cipher}",
                f"{cipher} is broken or has a too-small block/key size; use AES-GCM or ChaCha20-Poly1305.",
            )
        elif last == "new" and module.startswith(("Crypto.Cipher", "Cryptodome.Cipher")):
            for mode in node.args[1:2]:
                if (dotted(mode) or "").endswith("MODE_ECB"):
                    self.add(
                        "ecb-mode",
                        node,
                        327,
                        "medium",
                        "ECB block-cipher mode",
                        "ECB encrypts equal blocks to equal ciphertext and leaks patterns; use GCM.",
                    )
        if (
            name.startswith("cryptography.hazmat.primitives.ciphers.algorithms.")
            and last in _WEAK_CRYPTOGRAPHY_ALGORITHMS
        ):
            self.add(
                "weak-cipher",
                node,
                327,
                "high",
                f"Broken cipher {last}",
                f"{last} is a legacy cipher; use AES-GCM or ChaCha20-Poly1305.",
            )
        if name == "cryptography.hazmat.primitives.ciphers.modes.ECB":
            self.add(
                "ecb-mode",
                node,
                327,
                "medium",
                "ECB block-cipher mode",
                "ECB encrypts equal blocks to equal ciphertext and leaks patterns; use GCM.",
            )
        if last == "generate_private_key" and "rsa" in name:
            size = keyword(node, "key_size")
            if isinstance(size, ast.Constant) and isinstance(size.value, int) and size.value < 2048:
                self.add(
                    "weak-key",
                    node,
                    326,
                    "high",
                    "RSA key too short",
                    f"A {size.value}-bit RSA key can be factored; use 3072 bits or more.",
                )

        # predictable randomness
        if name in _RANDOM_FUNCS:
            secret_names = [n for n in self.context_names() if _SECURITY_WORDS.search(n)]
            self.add(
                "insecure-random",
                node,
                330,
                "high" if secret_names else "low",
                "Predictable random value" + (" used for a secret" if secret_names else ""),
                (
                    f"{name}() is a predictable generator and its result ends up in '{secret_names[0]}'; an attacker who sees a few values can predict the next."
                    if secret_names
                    else f"{name}() is not cryptographically secure; fine for simulations and shuffling, not for secrets."
                ),
                confidence="high" if secret_names else "low",
            )

        # secrets passed as literals
        for kw in node.keywords:
            if (
                kw.arg
                and _CREDENTIAL_NAME.search(kw.arg)
                and not _NOT_A_CREDENTIAL_NAME.search(kw.arg)
            ):
                text = literal_str(kw.value)
                if text is not None and looks_like_secret(text):
                    self._credential(kw.value, kw.arg, text)
        if name in ("jwt.encode", "jose.jwt.encode") and len(node.args) > 1:
            text = literal_str(node.args[1])
            if text is not None and len(text) >= 6:
                self._credential(node.args[1], "JWT signing key", text)
        if name == "hmac.new" and node.args:
            key = node.args[0]
            raw = (
                key.value
                if isinstance(key, ast.Constant) and isinstance(key.value, bytes | str)
                else None
            )
            if raw is not None and len(raw) >= 6:
                self._credential(
                    key, "HMAC key", raw.decode("latin-1") if isinstance(raw, bytes) else raw
                )

        # XML parsers told to fetch external entities
        if method == "setFeature" and len(node.args) >= 2 and is_true(node.args[1]):
            feature = self.qual(node.args[0]) or literal_str(node.args[0]) or ""
            if any(marker in feature for marker in _SAX_EXTERNAL):
                self.add(
                    "xxe-sax-feature",
                    node,
                    611,
                    "high",
                    "XML parser resolves external entities",
                    "Enabling external entities lets a document read local files and reach internal hosts (XXE).",
                )

    def _cookie(self, node: ast.Call) -> None:
        name_node = keyword(node, "key") or (node.args[0] if node.args else None)
        cookie = (
            literal_str(name_node) or (dotted(name_node) if name_node is not None else "") or ""
        )
        secure = keyword(node, "secure")
        httponly = keyword(node, "httponly")
        missing = []
        if secure is None or is_false(secure):
            missing.append("secure")
        if httponly is None or is_false(httponly):
            missing.append("httponly")
        if keyword(node, "samesite") is None:
            missing.append("samesite")
        if not (set(missing) & {"secure", "httponly"}):
            return
        sensitive = bool(_SENSITIVE_COOKIE.search(cookie))
        cwe = 614 if "secure" in missing else 1004
        self.add(
            "cookie-flags",
            node,
            cwe,
            "medium" if sensitive else "low",
            f"Cookie '{cookie or '?'}' set without {', '.join(missing)}",
            f"set_cookie() leaves out {', '.join(missing)}: "
            + (
                "the cookie can travel over plain HTTP"
                if "secure" in missing
                else "scripts can read the cookie"
            )
            + (" and it carries a session or token." if sensitive else "."),
            confidence="high" if sensitive else "medium",
        )

    def _jwt(self, node: ast.Call) -> None:
        options = keyword(node, "options")
        if isinstance(options, ast.Dict):
            for key, value in zip(options.keys, options.values, strict=True):
                if literal_str(key) == "verify_signature" and is_false(value):
                    self.add(
                        "jwt-no-verify",
                        node,
                        347,
                        "high",
                        "JWT decoded without verifying its signature",
                        "options={'verify_signature': False} accepts tokens anyone can forge.",
                    )
                    return
        if is_false(keyword(node, "verify")):
            self.add(
                "jwt-no-verify",
                node,
                347,
                "high",
                "JWT decoded without verifying its signature",
                "verify=False accepts forged tokens.",
            )
            return
        algorithms = keyword(node, "algorithms")
        if isinstance(algorithms, ast.List | ast.Tuple) and any(
            (literal_str(e) or "").lower() == "none" for e in algorithms.elts
        ):
            self.add(
                "jwt-none-algorithm",
                node,
                347,
                "high",
                "JWT 'none' algorithm accepted",
                "Allowing alg 'none' accepts unsigned tokens.",
            )


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Subscript):
        return literal_str(target.slice)
    return None


def analyse(tree: ast.Module, imports: ImportMap, path: str = "") -> list[Finding]:
    visitor = _Visitor(imports, path)
    visitor.visit(tree)
    return visitor.findings
