"""The three places that name versions agree, and CI runs the README's test command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(text: str) -> dict:
    return {m[1].lower().replace("_", "-"): m[2] for m in re.finditer(r"^\s*(?:-\s*)?([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def test_conda_environment_uses_the_same_pins():
    constraints = _pins((ROOT / "requirements/constraints.txt").read_text())
    conda = _pins((ROOT / "environment.yml").read_text())
    assert constraints and conda == constraints


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in readme and "make book" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_every_notebook_source_has_its_pair():
    for py in (ROOT / "notebooks").glob("*.py"):
        assert py.with_suffix(".ipynb").exists(), f"run: jupytext --sync {py.name}"


def test_every_notebook_opens_with_a_colab_link_and_no_remote_image():
    # The badge is text: a remote image would need a network to show in the offline book.
    for py in sorted((ROOT / "notebooks").glob("*.py")):
        first = py.read_text().split("# %% [markdown]", 1)[1].split("# %%", 1)[0]
        assert f"https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/{py.stem}.ipynb" in first, py.name
        assert not re.search(r"!\[[^\]]*\]\(https?://", first), f"{py.name}: a remote image in the first cell"
