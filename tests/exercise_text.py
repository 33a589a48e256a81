"""Reading an exercise's words against its finished step: which calls a text names, and
whether the finished step makes them, with that signature (tests/test_exercises.py)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mention:
    """A call a text names: `threading.Thread(target=receive, args=(name, sock))`."""

    text: str  # as written
    callee: str  # the last name: Thread
    node: ast.Call


def called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def mentions(text: str) -> list[Mention]:
    """Every call written in text that parses as Python (nested calls too)."""
    found: list[Mention] = []
    taken_until = 0
    for start in re.finditer(r"(?<![\w.])[A-Za-z_][\w.]*\(", text):
        if start.start() < taken_until:  # inside a call already parsed
            continue
        depth, end = 0, None
        for i in range(start.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        if end is None:
            continue
        fragment = text[start.start() : end]
        try:
            tree = ast.parse(fragment, mode="eval")
        except SyntaxError:
            continue
        taken_until = end
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (name := called_name(node)):
                found.append(Mention(ast.unparse(node), name, node))
    return found


@dataclass
class Finished:
    """What a finished step's Python files define and call."""

    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]  # top-level, every file
    names: set[str]  # every def, class, call and attribute name

    @classmethod
    def read(cls, folder: Path) -> Finished:
        functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        names: set[str] = set()
        for file in sorted(folder.glob("*.py")):
            tree = ast.parse(file.read_text())
            for statement in tree.body:
                if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions[statement.name] = statement
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute):
                    names.add(node.attr)
                elif isinstance(node, ast.Name):
                    names.add(node.id)
        return cls(functions, names)


def calls_in(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The names a function's body calls."""
    return {
        name
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and (name := called_name(node))
    }


def snake(name: str) -> str:
    """A D-Bus member name as python-sdbus spells its method: GetIncoming -> get_incoming."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def fits(function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call) -> str | None:
    """Why call cannot call function (wrong number of arguments, unknown keyword), or None."""
    args = function.args
    if not call.args and not call.keywords:
        return None  # `receive()`: naming the function, not calling it
    params = [a.arg for a in (*args.posonlyargs, *args.args)]
    required = len(params) - len(args.defaults)
    if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in call.args):
        return None  # f(..., flush=False): "whatever it takes", and the keywords below
    keywords = [k.arg for k in call.keywords if k.arg]
    known = {*params, *(a.arg for a in args.kwonlyargs)}
    unknown = [k for k in keywords if k not in known and args.kwarg is None]
    if unknown:
        return f"{function.name}() has no parameter {', '.join(unknown)}"
    given = len(call.args) + len([k for k in keywords if k in params])
    if given < required or (len(call.args) > len(params) and args.vararg is None):
        return f"{function.name}({', '.join(params)}) takes {required}..{len(params)}, not {given}"
    return None


NOTEBOOK_API = ("talk.", "exercise.")  # the notebooks' own helpers, not the step's code


def problems(text: str, finished: Finished, body: set[str] | None = None) -> list[str]:
    """What in text does not match the finished step: a call it never makes, a wrong
    signature, a thread's args that do not fit its target; with body, a call the emptied
    function's finished body does not make (the TODO describes other code)."""
    found = []
    for mention in mentions(text):
        name = mention.callee
        if mention.text.startswith(NOTEBOOK_API):
            continue
        if name not in finished.names and snake(name) not in finished.names:
            found.append(f"{mention.text}: the finished step has no {name}")
            continue
        if body is not None and name not in body:
            found.append(f"{mention.text}: not what this function's finished body does")
        if name in finished.functions and (why := fits(finished.functions[name], mention.node)):
            found.append(f"{mention.text}: {why}")
        keywords = {k.arg: k.value for k in mention.node.keywords}
        target, args = keywords.get("target"), keywords.get("args")
        if isinstance(target, ast.Name) and target.id in finished.functions:
            passed = args.elts if isinstance(args, ast.Tuple) else []
            call = ast.Call(func=target, args=list(passed), keywords=[])
            if why := fits(finished.functions[target.id], call):
                found.append(f"{mention.text}: the thread calls {why}")
    return found
