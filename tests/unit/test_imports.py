"""The house rules on who imports whom, read from the source with `ast` (every import: module level and lazy, inside
functions too), so a rule is broken in a test before anyone runs the code path that breaks it:

- no circle between files;
- `tasks/` never imports `jobs/`, `ui/`, `pipeline/`, the CLI or the trainer harness: a trainer takes a finished
  config and talks through files and signals;
- a task folder never imports another task folder: what two tasks share lives in a shared module of `tasks/`;
- only the trainer harness (`autotrain_gradio.train`) imports a task's `train.py`;
- the light side (everything outside `tasks/`, and the task declarations: `tasks/__init__.py`, what it imports, and
  each task's torch-free reader `Task.data`) imports no torch or ML library at module level, through any chain.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import autotrain_gradio
from autotrain_gradio.tasks import TASKS

PKG = "autotrain_gradio"
ROOT = Path(autotrain_gradio.__file__).parent
HEAVY = {"torch", "torchvision", "transformers", "diffusers", "peft", "accelerate", "trl", "sentence_transformers",
         "bitsandbytes", "safetensors", "timm", "xgboost", "sklearn"}
TASK_FOLDERS = {p.name for p in (ROOT / "tasks").iterdir() if (p / "__init__.py").is_file()}


@dataclass
class Module:
    name: str
    path: Path
    ours: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)  # our module -> [(line, lazy)]
    heavy: set[str] = field(default_factory=set)  # ML libraries imported at module level

    def eager(self) -> list[str]:
        return [target for target, where in self.ours.items() if any(not lazy for _, lazy in where)]


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, Module]:
    modules = {_name(p): Module(_name(p), p) for p in ROOT.rglob("*.py")}

    def ours(dotted: str) -> str | None:  # the module a dotted import lands in (a name in a package: the package)
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for mod in modules.values():
        tree = ast.parse(mod.path.read_text(encoding="utf-8"), str(mod.path))
        eager = {id(n) for top in tree.body for n in ast.walk(top) if not isinstance(
            top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
        eager |= {id(n) for top in tree.body if isinstance(top, ast.ClassDef) for n in top.body
                  if isinstance(n, ast.Import | ast.ImportFrom)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from its own package
                    package = mod.name if mod.path.name == "__init__.py" else mod.name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".rstrip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            lazy = id(node) not in eager
            for target in targets:
                if target.split(".")[0] in HEAVY and not lazy:
                    mod.heavy.add(target.split(".")[0])
                if target.startswith(PKG) and (found := ours(target)) and found != mod.name:
                    mod.ours.setdefault(found, []).append((node.lineno, lazy))
    return modules


GRAPH = _graph()


def _where(mod: Module, target: str) -> str:
    lines = ", ".join(f"{line}{' (lazy)' if lazy else ''}" for line, lazy in mod.ours[target])
    return f"{mod.path.relative_to(ROOT.parent)}:{lines} imports {target}"


def test_the_graph_sees_every_kind_of_import():
    """The parser itself: relative, lazy and `from package import module` imports all land on the right file."""
    server = GRAPH["autotrain_gradio.ui.server"]
    assert "autotrain_gradio.ui.app" in server.eager()
    lazy = GRAPH["autotrain_gradio.jobs.backends"].ours["autotrain_gradio.jobs.backends.ray"]
    assert lazy and all(is_lazy for _, is_lazy in lazy)
    assert "transformers" in GRAPH["autotrain_gradio.tasks.hf_trainer"].heavy
    assert len(GRAPH) > 100


def test_no_circle_between_files():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:  # Tarjan's strongly connected components, iterative over a small graph
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in GRAPH[name].ours:
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == name:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    detail = [_where(GRAPH[a], b) for c in circles for a in c for b in GRAPH[a].ours if b in c]
    assert not circles, f"import circles: {circles}; " + "; ".join(detail)


def test_tasks_import_no_job_ui_pipeline_or_cli():
    banned = ("autotrain_gradio.jobs", "autotrain_gradio.ui", "autotrain_gradio.pipeline", "autotrain_gradio.cli",
              "autotrain_gradio.compat")
    bad = [_where(mod, target) for mod in GRAPH.values() if mod.name.startswith("autotrain_gradio.tasks")
           for target in mod.ours
           if target == "autotrain_gradio.train" or any(target == b or target.startswith(b + ".") for b in banned)]
    assert not bad, "a trainer takes a finished config and talks through files: " + "; ".join(bad)


def _task_folder(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "tasks" and parts[2] in TASK_FOLDERS else None


def test_no_task_folder_imports_another():
    bad = [_where(mod, target) for mod in GRAPH.values() if (own := _task_folder(mod.name))
           for target in mod.ours if _task_folder(target) not in (None, own)]
    assert not bad, "what two tasks share goes into a shared module of tasks/: " + "; ".join(bad)


def test_only_the_trainer_harness_imports_a_tasks_train_module():
    bad = [_where(mod, target) for mod in GRAPH.values() for target in mod.ours
           if _task_folder(target) and target.endswith(".train") and mod.name != "autotrain_gradio.train"
           and _task_folder(mod.name) != _task_folder(target)]
    assert not bad, "; ".join(bad)


def _light_side() -> set[str]:
    roots = {name for name in GRAPH if not name.startswith("autotrain_gradio.tasks.")
             and name not in ("autotrain_gradio.train", "autotrain_gradio.jobs.__main__")}
    roots |= {"autotrain_gradio.tasks"} | {task.data.partition(":")[0] for task in TASKS.values() if task.data}
    return roots


def test_the_light_side_loads_no_torch():
    """Every light module, with everything it imports at module level (through any chain of our modules)."""
    bad = []
    for start in sorted(_light_side()):
        seen, todo, via = {start}, [start], {start: ""}
        while todo:
            name = todo.pop()
            if GRAPH[name].heavy:
                chain = [name]
                while via[chain[-1]]:
                    chain.append(via[chain[-1]])
                bad.append(f"{start} loads {sorted(GRAPH[name].heavy)} via {' <- '.join(chain)}")
                break
            for target in GRAPH[name].eager():
                if target not in seen:
                    seen.add(target)
                    via[target] = name
                    todo.append(target)
    assert not bad, "; ".join(bad)
