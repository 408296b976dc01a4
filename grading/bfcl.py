"""BFCL-style function-calling scoring: parse the model's calls, compare them to the
possible answers the way BFCL's AST checker does.

Possible answers (BFCL ``possible_answer`` files): a list with one entry per expected call,
``{"func": {"arg": [v1, v2, ...]}}``; ``""`` among an argument's values means it may be
omitted. A call matches when the function name is the same, every required argument is
given, no argument outside the function's documented parameters is given, each value has
the documented type (an int is accepted where a float is expected) and equals one of the
possible values (strings compared case- and punctuation-insensitively, as BFCL does; lists
element-wise; dicts key by key). Several expected calls are matched in any order (BFCL's
parallel categories). The model may answer in BFCL's Python syntax
(``[f(a=1), g(b="x")]``) or as JSON tool calls (``<tool_call>{"name": ..., "arguments":
...}</tool_call>``, Qwen's format); anything else is a malformed call and scores 0.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from .scorers import strip_reasoning

Call = tuple[str, dict[str, Any]]
_FENCE = re.compile(r"```(?:[a-zA-Z]+)?\s*\n?(.*?)```", re.S)
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_STRIP = re.compile(r"[ ,./\-_*^]")


class MalformedCall(ValueError):
    pass


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise MalformedCall("function name is not a name")


def _python_calls(text: str) -> list[Call]:
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise MalformedCall(f"not Python call syntax: {exc.msg}") from None
    nodes = tree.elts if isinstance(tree, ast.List | ast.Tuple) else [tree]
    calls: list[Call] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            raise MalformedCall("not a function call")
        if node.args:
            raise MalformedCall("positional arguments (BFCL calls use keywords)")
        args: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise MalformedCall("**kwargs in a call")
            try:
                args[kw.arg] = ast.literal_eval(kw.value)
            except (ValueError, SyntaxError, TypeError):
                raise MalformedCall(f"argument {kw.arg!r} is not a literal") from None
        calls.append((_dotted(node.func), args))
    return calls


def _json_calls(blobs: list[str]) -> list[Call]:
    calls: list[Call] = []
    for blob in blobs:
        try:
            obj = json.loads(blob)
        except ValueError:
            raise MalformedCall("tool call is not JSON") from None
        for c in obj if isinstance(obj, list) else [obj]:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                raise MalformedCall("tool call without a name")
            args = c.get("arguments", c.get("parameters", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    raise MalformedCall("tool call arguments are not JSON") from None
            if not isinstance(args, dict):
                raise MalformedCall("tool call arguments are not an object")
            calls.append((c["name"], args))
    return calls


def parse_calls(completion: str) -> list[Call]:
    """The calls in a completion; raises MalformedCall when there are none to parse."""
    text = strip_reasoning(completion).strip()
    tool = _TOOL_CALL.findall(text)
    if tool:
        return _json_calls(tool)
    fences = _FENCE.findall(text)
    if fences:
        text = fences[-1].strip()
    if text.startswith(("{", '[{')):
        return _json_calls([text])
    return _python_calls(text)


def _std(s: str) -> str:
    return _STRIP.sub("", s).lower()


def _value_ok(value: Any, possible: list[Any], typ: str | None) -> bool:
    if typ == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    types = {"integer": int, "float": float, "string": str, "boolean": bool, "array": list, "tuple": list,
             "dict": dict}
    want = types.get(typ or "")
    if isinstance(value, tuple):
        value = list(value)
    if want is not None and not isinstance(value, want):
        return False
    if want is int and isinstance(value, bool):
        return False
    for p in possible:
        if p == "" and value is None:
            continue
        if _equal(value, p):
            return True
    return False


def _equal(value: Any, p: Any) -> bool:
    if isinstance(value, str) and isinstance(p, str):
        return _std(value) == _std(p)
    if isinstance(value, list) and isinstance(p, list):
        return len(value) == len(p) and all(_equal(a, b) for a, b in zip(value, p, strict=True))
    if isinstance(value, dict) and isinstance(p, dict):
        # In BFCL possible answers a dict's values are themselves lists of possible values.
        for k, vs in p.items():
            options = vs if isinstance(vs, list) else [vs]
            if k not in value:
                if "" in options:
                    continue
                return False
            if not any(_equal(value[k], o) for o in options):
                return False
        return set(value) <= set(p)
    if isinstance(value, bool) or isinstance(p, bool):
        return value is p
    if isinstance(value, int | float) and isinstance(p, int | float):
        return float(value) == float(p)
    return bool(value == p)


def _doc(functions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for f in functions:
        if f.get("name") == name or str(f.get("name", "")).replace(".", "_") == name.replace(".", "_"):
            return f
    return None


def call_matches(call: Call, expected: dict[str, dict[str, list[Any]]], functions: list[dict[str, Any]]) -> bool:
    (want_name, want_args), = expected.items()
    name, args = call
    if name.replace(".", "_") != want_name.replace(".", "_"):
        return False
    doc = _doc(functions, want_name) or {}
    params = (doc.get("parameters") or {})
    props: dict[str, Any] = params.get("properties") or {}
    required = params.get("required") or []
    if any(r not in args for r in required):
        return False
    if props and any(a not in props for a in args):
        return False
    for a, possible in want_args.items():
        options = possible if isinstance(possible, list) else [possible]
        if a not in args:
            if "" not in options:
                return False
            continue
        typ = (props.get(a) or {}).get("type")
        if not _value_ok(args[a], options, typ):
            return False
    return set(args) <= set(want_args)


def score_bfcl(completion: str, ground_truth: list[dict[str, Any]], functions: list[dict[str, Any]]) -> tuple[float, Any]:
    """1.0 when the calls match the possible answers (any order), else 0.0; plus what was parsed."""
    try:
        calls = parse_calls(completion)
    except MalformedCall as exc:
        return 0.0, {"malformed": str(exc)}
    shown = [{"name": n, "arguments": a} for n, a in calls]
    if len(calls) != len(ground_truth):
        return 0.0, shown
    left = list(range(len(calls)))
    for exp in ground_truth:
        hit = next((i for i in left if call_matches(calls[i], exp, functions)), None)
        if hit is None:
            return 0.0, shown
        left.remove(hit)
    return 1.0, shown
