"""The shape of the code: no import cycle, no two modules with one name, every command alike, help everywhere."""

import argparse
import ast
import os

import pytest

from interpretable_adv.cli import COMMANDS, build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("interpretable_adv", "data_prep")


def _modules():
    """``{dotted name: path}`` of every module of the two packages."""
    found = {}
    for package in PACKAGES:
        for base, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(base, name)
                    dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


def _import_graph(modules):
    """Module -> modules it imports (anywhere in the file, functions included)."""
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = node.module + "." + alias.name
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_hand_made_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = _import_graph(_modules())
    # A package importing its own submodules (a facade) is not a cycle of modules.
    graph = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
    assert _cycles(graph) == []


def test_no_two_modules_share_a_name():
    names = {}
    for dotted in _modules():
        leaf = dotted.rsplit(".", 1)[-1]
        if leaf in PACKAGES or dotted.count(".") == 0:
            continue
        names.setdefault(leaf, []).append(dotted)
    shared = {leaf: where for leaf, where in names.items() if len(where) > 1 and leaf != "__init__"}
    # A subcommand's module is named after the subcommand; the library module it drives may not be.
    assert shared == {}, shared


@pytest.mark.parametrize("name, module_name", COMMANDS)
def test_every_command_module_has_the_same_face(name, module_name):
    import importlib

    module = importlib.import_module("interpretable_adv.commands." + module_name)
    assert isinstance(module.HELP, str) and module.HELP
    assert callable(module.add_arguments) and callable(module.run)
    assert module.__doc__.strip().startswith("``iadv %s``" % name)


def test_every_flag_has_help_and_enumerations_list_their_choices():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in subparsers.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, "iadv %s %s has no help" % (name, "/".join(action.option_strings) or action.dest)
            if action.dest in ("method", "softmax", "perturbation_norm", "tokenizer", "oov", "color", "sections"):
                assert action.choices, "iadv %s %s lists no choices" % (name, action.option_strings)


# ----------------------------------------------------------------------------- one home for what a method is


def _string_constants(path):
    """``(line, text)`` of every string constant of a Python file that is not a docstring."""
    tree = ast.parse(open(path).read())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            docstrings.add(id(node.body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _python_files_outside_methods():
    for top in PACKAGES + ("figures", "experiments"):
        for base, _, files in os.walk(os.path.join(ROOT, top)):
            if os.path.relpath(base, ROOT).startswith(os.path.join("interpretable_adv", "methods")):
                continue
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(base, name)


def test_no_module_outside_methods_names_a_method():
    """A method's name lives in its recipe (interpretable_adv/methods/); everything else asks the registry."""
    from interpretable_adv import methods

    names = set(methods.names())
    found = ["%s:%d %r" % (os.path.relpath(path, ROOT), line, text)
             for path in _python_files_outside_methods() for line, text in _string_constants(path) if text in names]
    assert found == []


def test_the_name_scan_sees_a_literal_method_name(tmp_path):
    path = tmp_path / "example.py"
    path.write_text('"""Docstrings may say spgd."""\n\ndef f(config):\n    return config["method"] == "spgd"\n')
    assert sorted(_string_constants(str(path))) == [(4, "method"), (4, "spgd")]


def test_no_script_carries_a_list_of_methods():
    """The experiment scripts ask `iadv methods` for their lists; a line may still run one method by name."""
    import re

    from interpretable_adv import methods

    word = re.compile(r"[a-z_]+")
    names = set(methods.names())
    offending = []
    for base, _, files in os.walk(os.path.join(ROOT, "experiments")):
        for name in files:
            if not name.endswith(".sh"):
                continue
            path = os.path.join(base, name)
            for number, line in enumerate(open(path), 1):
                code = line.split("#", 1)[0]
                if len(set(word.findall(code)) & names) > 1:
                    offending.append("%s:%d %s" % (os.path.relpath(path, ROOT), number, line.strip()))
    assert offending == []
