"""The package follows the seed's flow: a stage's code imports from its own stage and earlier ones (and the
infrastructure), never from a later stage; the same word names a stage in rules/, scripts/, src/ and tests/."""

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "ernie_pipeline"
# the flow's order; infrastructure (io, settings) comes before every stage, workflow (Snakemake's wiring) after
ORDER = ["io", "settings", "corpus", "segment", "vocab", "clean", "tokenize", "index", "train", "evaluate", "export", "workflow"]
STAGES = ["corpus", "segment", "vocab", "clean", "tokenize", "index", "train", "evaluate", "export"]


def _imports(path: Path) -> set[str]:
    """The ernie_pipeline subpackages (or top-level modules) a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                 else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        found |= {name.split(".")[1] for name in names if name.startswith("ernie_pipeline.")}
    return found


def test_no_stage_imports_from_a_later_one():
    backwards = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if part not in ORDER:
            continue
        backwards += [f"{path.relative_to(PACKAGE)} imports ernie_pipeline.{name}" for name in _imports(path)
                      if name in ORDER and ORDER.index(name) > ORDER.index(part)]
    assert not backwards, backwards
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")} == set(ORDER) - {"settings"}


def test_each_stage_goes_by_one_word_in_every_layer():
    """rules/<stage>.smk, scripts/<stage>/, src/ernie_pipeline/<stage>/ and tests/<stage>/ for every stage that
    has rules of its own (export: one rule; the corpus: the sample's rules; index, train ...)."""
    for stage in STAGES:
        assert (REPO / "rules" / f"{stage}.smk").is_file(), stage
        assert (REPO / "scripts" / stage).is_dir() and (PACKAGE / stage / "__init__.py").is_file(), stage
        assert (REPO / "tests" / stage).is_dir(), stage
    assert sorted(p.stem for p in (REPO / "rules").glob("*.smk")) == sorted(STAGES + ["common"])
    assert sorted(p.name for p in (REPO / "scripts").iterdir() if p.is_dir()) == sorted(STAGES)
