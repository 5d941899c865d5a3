"""A light check of the Go templates Prometheus expands in labels and annotations.

Prometheus reads every annotation and alert label as a Go text/template, and a
rule file whose templates do not parse is refused as a whole. This is not a Go
template parser: it finds the mistakes that happen in practice, an action left
open or closed twice, and a word that is neither a variable, a field, a keyword
nor one of the functions Prometheus defines.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "template", "define", "block", "break",
     "continue", "nil", "true", "false"}
)  # fmt: skip
# Go's built-in template functions and those Prometheus adds for rule templates.
FUNCTIONS = frozenset(
    {"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice",
     "print", "printf", "println", "html", "js", "urlquery", "call",
     "humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
     "humanizeTimestamp", "query", "first", "label", "value", "strvalue", "args",
     "tmpl", "safeHtml", "match", "reReplaceAll", "title", "toUpper", "toLower",
     "stripPort", "stripDomain", "graphLink", "tableLink", "sortByLabel",
     "parseDuration", "externalURL", "pathPrefix", "toTime"}
)  # fmt: skip

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIRST_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*")


def template_problem(text: str) -> str | None:
    """What keeps Prometheus from reading `text` as a template, or None."""
    outside = _ACTION.sub("", text)
    if "{{" in outside:
        return "a template action `{{` is never closed"
    if "}}" in outside:
        return "`}}` closes no template action"

    for match in _ACTION.finditer(text):
        action = match.group(1).strip().lstrip("-").rstrip("-").strip()
        if not action or action.startswith(("/*", "$", ".", '"', "`", "(", "'")):
            continue
        word = _FIRST_WORD.match(action)
        if word is None or word.group() in KEYWORDS or word.group() in FUNCTIONS:
            continue
        return f"`{{{{ {action} }}}}`: {word.group()!r} is not a template function"
    return None
