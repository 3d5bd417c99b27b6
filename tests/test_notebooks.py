"""Every notebook in notebooks/ runs top to bottom on the shipped data and is committed without outputs.

Notebooks run in a fresh ``python3`` kernel with ``notebooks/`` as the working directory. Under
``.venv/bin/python`` that kernel is the venv's own ipykernel (jupyter_client starts a kernelspec
whose command is plain ``python`` with the running interpreter).
"""

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402 - after the skips
from nbclient.exceptions import CellExecutionError  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL = "python3"
TIMEOUT = 300  # seconds per cell; the notebooks take a few seconds in all


def _kernel_runs_this_python() -> str | None:
    """Why the ``python3`` kernel would not run this interpreter, or None when it does."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return f"no {KERNEL!r} kernelspec; install ipykernel into this environment"
    cmd = spec.argv[0]
    major, minor = sys.version_info[:2]
    if cmd in {"python", f"python{major}", f"python{major}.{minor}"}:
        return None  # jupyter_client replaces it with sys.executable
    if Path(cmd).resolve() == Path(sys.executable).resolve():
        return None
    return (f"the {KERNEL!r} kernelspec in {spec.resource_dir} starts {cmd}, not {sys.executable}; "
            "remove it or run the tests with the venv's python")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    problem = _kernel_runs_this_python()
    if problem:
        pytest.fail(problem)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=TIMEOUT,
                                     resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    try:
        client.execute()  # executes a copy in memory; the file on disk is not touched
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed\n{exc}", pytrace=False)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_saved_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"
