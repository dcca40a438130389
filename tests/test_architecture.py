"""The layering of rmm_lib: the import contract in pyproject.toml holds, and it would catch a break."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, package_parent: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(LINT.parent), "PYTHONPATH": str(package_parent), "HOME": str(cwd)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contract_holds():
    done = _lint(ROOT, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_the_contract_catches_an_upward_import_and_a_method_reading_recipes(tmp_path):
    """A copy of the package where the MLA method imports its recipe (the circle the layers forbid)."""
    shutil.copytree(ROOT / "rmm_lib", tmp_path / "rmm_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    method = tmp_path / "rmm_lib" / "methods" / "mla.py"
    method.write_text(method.read_text().replace("from ..hooks import TrainingHooks",
                                                 "from ..hooks import TrainingHooks\nfrom ..recipes import mla as _recipe"))
    done = _lint(tmp_path, tmp_path)
    assert done.returncode != 0
    assert "rmm_lib.methods is not allowed to import rmm_lib.recipes" in done.stdout


def test_only_the_entry_points_and_profiles_read_the_environment():
    """The profile is read once, at the entry points, and passed down; rmm_lib.profiles is the one
    module with environment defaults (display and cache settings)."""
    allowed = {"profiles.py", "notebook.py", "__main__.py"}
    readers = sorted(str(p.relative_to(ROOT / "rmm_lib")) for p in (ROOT / "rmm_lib").rglob("*.py")
                     if re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text()))
    assert set(readers) <= allowed, readers


def test_every_module_has_a_layer():
    """A new module must be placed in the contract, or nothing checks what it imports."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layered = {name.strip() for layer in config["layers"] for name in re.split(r"[|:]", layer)}
    modules = {f"rmm_lib.{p.stem if p.is_file() else p.name}" for p in (ROOT / "rmm_lib").iterdir()
               if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert modules <= layered, sorted(modules - layered)
