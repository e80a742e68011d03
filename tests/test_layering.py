"""Imports flow one way: main -> gui -> explain -> core. Checked on the source, and at run time."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ML = {"torch", "torchvision", "faiss", "captum", "llama_cpp", "timm", "transformers", "pytorch_grad_cam",
      "sentence_transformers"}


def module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_and_explain_never_import_qt_or_upper_layers():
    for pkg, banned in (("core", {"PySide6", "gui", "explain", "main"}), ("explain", {"PySide6", "gui", "main"})):
        for path in (ROOT / pkg).rglob("*.py"):
            bad = all_imports(path) & banned
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_gui_imports_no_ml_library_at_module_level():
    for path in (ROOT / "gui").rglob("*.py"):
        bad = module_level_imports(path) & ML
        assert not bad, f"{path.relative_to(ROOT)} imports {bad} at module level"


def test_opening_the_window_module_loads_no_ml_library():
    code = ("import sys; import gui.main_window, gui.app; "
            f"print(sorted(m for m in {sorted(ML)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
