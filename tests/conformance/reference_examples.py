"""The example requests and responses of ``shared/reference/platform-api.md``, read from the
document itself: one `Example` per ``####`` section that documents an endpoint.

Each example has the heading's method and path, the request body (the "Example Request"
block, else the curl's ``-d``), the documented success status (the section's "HTTP Code"
line, else the overview's table by method) and the example response, when there is one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A verbatim copy of shared/reference/platform-api.md, so a clean clone runs these tests.
REFERENCE = Path(__file__).with_name("platform-api.md")

# "Status Codes" (platform-api.md line 111): the success status of each method.
_STATUS_BY_METHOD = {"GET": 200, "POST": 201, "PUT": 202, "DELETE": 202, "HEAD": 204}
_ENDPOINT = re.compile(r"^`(GET|POST|PUT|DELETE|HEAD) ([^`?]+)(?:\?([^`]*))?`", re.M)
_BLOCK = re.compile(r"^(?:~~~|```)(\w*)\n(.*?)^(?:~~~|```)", re.M | re.S)
_HTTP_CODE = re.compile(r"HTTP Code (\d{3})")


@dataclass(frozen=True)
class Example:
    """One documented call: heading ``title`` at ``line`` of the reference."""

    title: str
    line: int
    method: str
    path: str
    query: str
    body: Any
    status: int
    response: Any
    has_response: bool


def _curl_body(curl: str) -> Any:
    match = re.search(r"-d\s+(['\"])(.*?)\1\s*(?:\\\n|$)", curl, re.S | re.M)
    if match is None:
        return None
    text = match.group(2)
    if match.group(1) == '"':
        text = text.replace("\\\n", "\n").replace('\\"', '"')
        text = re.sub(r"\\(?=[a-z])", "", text)  # the subscription example's `\false`
    return _loads(text)


def _loads(text: str) -> Any:
    """JSON as the reference writes it: its audiences example (line 928) has a doubled
    comma, read as one."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(re.sub(r",\s*,", ",", text))


def _json_after(section: str, heading: str) -> tuple[bool, Any]:
    at = section.find(heading)
    if at < 0:
        return False, None
    block = _BLOCK.search(section, at)
    if block is None:
        return False, None
    text = block.group(2).strip()
    return True, _loads(text) if text else None


def load() -> dict[str, Example]:
    """Every endpoint section of the reference, by its heading."""
    text = REFERENCE.read_text(encoding="utf-8")
    # The User Insights example sits inside an HTML comment: not a documented endpoint.
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    examples: dict[str, Example] = {}
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^#### (.+)$", text, re.M)]
    for i, (start, title) in enumerate(headings):
        end = headings[i + 1][0] if i + 1 < len(headings) else len(text)
        section = text[start:end]
        endpoint = _ENDPOINT.search(section)
        if endpoint is None:
            continue
        method, path, query = endpoint.group(1), endpoint.group(2), endpoint.group(3) or ""
        found, body = _json_after(section, "##### Example Request")
        if not found:
            curl = re.search(r"curl.*?^(?:~~~|```)", section, re.S | re.M)
            body = _curl_body(curl.group(0)) if curl else None
        has_response, response = _json_after(section, "##### Example Response")
        if not has_response and method == "GET":
            # "List Feed Subscriptions" shows its response without the heading.
            block = _BLOCK.search(section)
            if block is not None and block.group(1) == "json":
                has_response, response = True, _loads(block.group(2))
        code = _HTTP_CODE.search(section)
        status = int(code.group(1)) if code else _STATUS_BY_METHOD[method]
        examples[title.strip()] = Example(
            title=title.strip(),
            line=text.count("\n", 0, start) + 1,
            method=method,
            path=path,
            query=query,
            body=body,
            status=status,
            response=response,
            has_response=has_response,
        )
    return examples


def shape_differences(example: Any, actual: Any, where: str = "$") -> list[str]:
    """Where `actual` does not have `example`'s shape: the same keys at every depth and
    values of the same JSON type. A null on either side matches anything (the examples
    show nulls where values may be set); item i of an array is compared with the example's
    item i, or its last one (examples list one or two items of a kind)."""
    if example is None or actual is None:
        return []
    if isinstance(example, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {type(actual).__name__}"]
        problems = [f"{where}: missing key {k!r}" for k in example if k not in actual]
        problems += [f"{where}: extra key {k!r}" for k in actual if k not in example]
        for key in example:
            if key in actual:
                problems += shape_differences(example[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(example, list):
        if not isinstance(actual, list):
            return [f"{where}: expected an array, got {type(actual).__name__}"]
        if not example:
            return []
        problems = []
        for i, item in enumerate(actual):
            model = example[min(i, len(example) - 1)]
            problems += shape_differences(model, item, f"{where}[{i}]")
        return problems
    if isinstance(example, bool) or isinstance(actual, bool):
        same = isinstance(example, bool) and isinstance(actual, bool)
    elif isinstance(example, (int, float)):
        same = isinstance(actual, (int, float))
    else:
        same = type(example) is type(actual)
    if not same:
        return [f"{where}: expected {type(example).__name__}, got {type(actual).__name__}"]
    return []
