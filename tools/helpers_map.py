"""The map of helpers/ in docs/helpers.md: a table kept by hand, checked against the code, and a diagram made from it.

    python tools/helpers_map.py          # rewrite the stage diagram in docs/helpers.md from its table
    python tools/helpers_map.py --check  # exit 1 if the table or the diagram disagree with the code

The table (one row per module: stage, module, what it holds, the helper modules it imports) is the single
source; tests/test_packaging.py checks it against the imports in the code and the diagram against the table.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "helpers.md"
STAGES = ["config", "photos", "vectors", "collection", "pictures", "comic", "commands"]
BEGIN, END = "<!-- stage diagram: made by tools/helpers_map.py -->", "<!-- end of stage diagram -->"


def module_files() -> dict[str, Path]:
    """Every helper module as `stage.module` (or `config`), with its file; the fronts and private ones left out."""
    found = {"config": ROOT / "helpers" / "config.py"}
    for stage in STAGES[1:]:
        for path in sorted((ROOT / "helpers" / stage).glob("*.py")):
            if not path.stem.startswith("_"):
                found[f"{stage}.{path.stem}"] = path
    return found


def imports_in_code(path: Path) -> set[str]:
    """The helper modules that a file imports, anywhere in its code, as `stage.module` (or `config`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            package = node.module.removeprefix("helpers").lstrip(".")
            if package.count(".") == 1 or package == "config":  # from helpers.photos.hits import Hit
                found.add(package)
            else:  # from helpers import config / from helpers.photos import data
                found |= {f"{package}.{alias.name}" if package else alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("helpers.") for alias in node.names if alias.name.startswith("helpers.")}
    return {name for name in found if not name.startswith("_")}


def table_in_page(text: str) -> dict[str, set[str]]:
    """The page's table: `stage.module` -> the helper modules it says it imports."""
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| [^|]+ \| ([^|]*) \|$", text, re.M)
    table = {}
    for stage, module, imports in rows:
        name = module if stage == module == "config" else f"{stage}.{module}"
        table[name] = {item.strip().strip("`") for item in imports.split(",") if item.strip() not in ("", "-")}
    return table


def stage_of(name: str) -> str:
    return name.split(".")[0]


def stage_diagram(table: dict[str, set[str]]) -> str:
    """A Mermaid graph of the stages: an arrow from a stage to each stage whose modules it imports."""
    edges = sorted({(stage_of(m), stage_of(i)) for m, imports in table.items() for i in imports
                    if stage_of(m) != stage_of(i)}, key=lambda e: (STAGES.index(e[0]), STAGES.index(e[1])))
    lines = ["```mermaid", "graph BT"] + [f"    {a} --> {b}" for a, b in edges] + ["```"]
    return "\n".join(lines)


def with_diagram(text: str) -> str:
    """The page with its diagram made anew from its table."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + stage_diagram(table_in_page(text)) + "\n" + text[end:]


def main() -> int:
    text = PAGE.read_text()
    if "--check" not in sys.argv:
        PAGE.write_text(with_diagram(text))
        return 0
    code = {name: imports_in_code(path) for name, path in module_files().items()}
    problems = [f"{name}: the code imports {sorted(code.get(name, set()))}, the table says "
                f"{sorted(table_in_page(text).get(name, set()))}"
                for name in sorted(set(code) | set(table_in_page(text)))
                if code.get(name) != table_in_page(text).get(name)]
    if with_diagram(text) != text:
        problems.append("the stage diagram is out of date: run python tools/helpers_map.py")
    print("\n".join(problems) or "docs/helpers.md matches the code")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
