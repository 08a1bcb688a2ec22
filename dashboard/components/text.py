"""Free text on screen: what staff, patients' records and imports wrote, shown as written.

Streamlit renders markdown in st.markdown, st.write, captions, alerts, titles and labels, so
a carer's name or an alert note written as `[click](http://…)` or `![x](http://…/x.png)`
would become a live link or a remote image on a responder's screen. Every user-provided
string that goes into one of those passes through `escape_markdown` (pages keep their own
markdown for the labels and layout around it).
"""

from __future__ import annotations

import re

# CommonMark lets any ASCII punctuation be escaped with a backslash. These start markdown,
# GFM (tables, strike-through, "http://" and "user@host" links), Streamlit's directives
# (":red[…]"), LaTeX ("$") or an entity ("&#91;") wherever they stand.
_ANYWHERE = re.compile(r"([\\`*_{}\[\]()<>#+!|~$:&=^@])")
# A hyphen or a full stop starts something only at the start of a line ("- item", "---",
# "1. item") or in a bare "www." link; elsewhere (TH-000007, 82.4 kg) it is left as it is.
_LIST_AT_START = re.compile(r"^(-|\d+(?=\.))")
_WWW = re.compile(r"(?i)\b(www)\.")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def escape_markdown(text: str) -> str:
    """`text` as markdown that shows exactly that text: every markdown character escaped,
    each line break a hard line break (so no line can start a heading, list or quote)."""
    lines = (_escape_line(line.strip()) for line in _LINE_BREAKS.split(text))
    return "  \n".join(line for line in lines if line)


def _escape_line(line: str) -> str:
    line = _WWW.sub(r"\1\\.", _ANYWHERE.sub(r"\\\1", line))
    match = _LIST_AT_START.match(line)
    if match is None:
        return line
    if match.group(1) == "-":
        return "\\" + line
    return f"{match.group(1)}\\{line[match.end():]}"
