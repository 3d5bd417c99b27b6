"""Bitrix24's wire format for nested parameters: PHP-style bracketed keys.

Outgoing-webhook events arrive as ``application/x-www-form-urlencoded`` bodies such as
``event=ONCRMDEALUPDATE&data[FIELDS][ID]=5&auth[member_id]=…``, and the commands of a REST
``batch`` call are query strings built the same way (``filter[>ID]=5&select[]=ID``).
:func:`parse_nested` and :func:`build_query` are the two directions, the inverse of each other
for the shapes Bitrix24 uses (dicts of dicts and lists of scalars).
"""

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote

MAX_DEPTH = 8  # data[FIELDS][ID] is 3 deep; anything much deeper is not Bitrix24


class WireError(ValueError):
    """A bracketed key or value that Bitrix24 never sends; the message names the key."""


def _path(key: str) -> list[str]:
    """``data[FIELDS][ID]`` → ``["data", "FIELDS", "ID"]``; ``select[]`` → ``["select", ""]``."""
    head, bracket, rest = key.partition("[")
    if not head:
        raise WireError(f"{key!r}: a key must start with a name")
    parts = [head]
    while bracket:
        inner, closed, rest = rest.partition("]")
        if not closed:
            raise WireError(f"{key!r}: unclosed bracket")
        parts.append(inner)
        if not rest:
            break
        if not rest.startswith("["):
            raise WireError(f"{key!r}: text after a closing bracket")
        rest = rest[1:]
    if len(parts) > MAX_DEPTH:
        raise WireError(f"{key!r}: nested deeper than {MAX_DEPTH} levels")
    return parts


def _set(tree: dict, parts: list[str], value: str, key: str) -> None:
    node = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "":  # «select[]»: the next free index, as PHP does
            part = str(sum(1 for k in node if k.isdigit()))
        if last:
            if isinstance(node.get(part), dict):
                raise WireError(f"{key!r}: both a value and nested keys")
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise WireError(f"{key!r}: both a value and nested keys")
        node = child


def _lists(node):
    """Dicts whose keys are exactly 0..n-1 become lists (``select[]=ID&select[]=TITLE``)."""
    if not isinstance(node, dict):
        return node
    node = {k: _lists(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node) and sorted(map(int, node)) == list(range(len(node))):
        return [node[str(i)] for i in range(len(node))]
    return node


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict:
    """(key, value) pairs with bracketed keys → a nested dict (lists where keys are 0..n-1)."""
    tree: dict = {}
    for key, value in pairs:
        _set(tree, _path(key), value, key)
    return {k: _lists(v) for k, v in tree.items()}


def parse_nested(query: str) -> dict:
    """A form-encoded body or a query string → a nested dict of strings."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise WireError("the body is not UTF-8 text") from None
    return parse_pairs(pairs)


def _flatten(prefix: str, value, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        if not value:
            out.append((prefix, ""))
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]", v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(value, bool):
        out.append((prefix, "Y" if value else "N"))
    elif value is None:
        out.append((prefix, ""))
    else:
        out.append((prefix, str(value)))


def flatten(params: Mapping) -> list[tuple[str, str]]:
    """A nested dict → (bracketed key, value) pairs; booleans become ``Y``/``N``."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, out)
    return out


def build_query(params: Mapping) -> str:
    """A nested dict → ``a[b]=1&c[0]=x``: the form of a command inside a REST ``batch`` call."""
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in flatten(params))
