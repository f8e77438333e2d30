"""The package imports in one direction: no module of ``autodp`` reaches, through any chain
of imports (function-local ones included), back to itself, and no import points up a layer
(``shared/DESIGN.md``'s shape of the code): primitives, foundations, models, the augmentation
runtime, operators, execution, the pipelines, then what people and Airflow call."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "autodp"


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        named = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                named |= {alias.name for alias in node.names}
        graph[name] = {target for target in named if target in modules and target != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path that closes it."""
    found, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                circle = path[path.index(target):]
                if frozenset(circle) not in done:
                    done.add(frozenset(circle))
                    found.append(circle + [target])
            elif target not in finished:
                visit(target, path + [target])
        finished.add(module)

    finished: set[str] = set()
    for module in sorted(graph):
        if module not in finished:
            visit(module, [module])
    return found


def test_no_module_imports_its_way_back_to_itself():
    graph = import_graph()
    assert len(graph) > 100
    assert circles(graph) == []


def test_a_circle_is_found_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c", "a"]]


# Each room (a top-level module or a package) on its floor; an import may point down or
# sideways, never up. The top level of the package holds only primitives and packages.
LAYERS = (
    {"autodp", "artifacts", "defects", "fields", "hashing", "settings", "state", "text"},  # primitives
    {"store", "tables", "ingest", "llm", "exports"},  # foundations
    {"models"},  # base models, embeddings, likelihood, LoRA
    {"augmentation"},  # the augmentation models at run time
    {"operators"},
    {"execution"},  # strategies, the executor and the sharded runner
    {"search", "curate", "distill"},  # the pipelines
    {"review", "cli", "orchestration"},  # what people and Airflow call
)

def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floor(module: str) -> int:
    found = [n for n, rooms in enumerate(LAYERS) if room(module) in rooms]
    assert found, f"{module}: its room {room(module)!r} is on no floor of LAYERS"
    return found[0]


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{source} -> {target}" for source, targets in graph.items() for target in targets
                  if floor(target) > floor(source))


def test_no_import_points_up_a_layer():
    assert upward_arrows(import_graph()) == []


def test_the_top_level_holds_only_primitives_and_packages():
    loose = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert loose <= LAYERS[0]


def test_an_upward_arrow_is_found_when_there_is_one():
    assert upward_arrows({"autodp.store.base": {"autodp.search.loop"}, "autodp.search.loop": {"autodp.store"}}) == [
        "autodp.store.base -> autodp.search.loop"]
