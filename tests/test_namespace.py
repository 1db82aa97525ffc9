"""The public namespace: small, lazy (no torch on ``import affectkit``), listed by ``dir``,
and declared for type checkers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import affectkit

INIT = Path(affectkit.__file__)
EXPECTED = {"analyze", "analyze_to_file", "AnalyzeOptions", "Recognizer", "load_model", "load_dataset",
            "run_experiment", "run_temporal_experiment", "run_audio_experiment", "EXPRESSIONS", "AffectkitError",
            "InputError", "DataError", "WeightsError", "OptionError"}


def test_public_names_cover_the_three_modalities():
    assert EXPECTED <= set(affectkit.__all__)
    assert set(affectkit._LAZY) <= set(affectkit.__all__)
    assert len(affectkit.__all__) == len(set(affectkit.__all__)) <= 25  # small
    assert EXPECTED <= set(dir(affectkit))  # before first use, too (module __dir__)


def test_import_affectkit_does_not_import_torch():
    code = ("import sys, affectkit; names = dir(affectkit); "
            "print(','.join(m for m in ('torch', 'pandas', 'cv2', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout


def test_every_public_name_resolves_to_the_object_of_its_module():
    import importlib

    for name in affectkit.__all__:
        value = getattr(affectkit, name)
        module = affectkit._LAZY.get(name)
        if module:
            assert value is getattr(importlib.import_module(module), name), name
    from affectkit.errors import DataError
    from affectkit.pipeline import AnalyzeOptions

    assert affectkit.DataError is DataError and affectkit.AnalyzeOptions is AnalyzeOptions
    try:
        affectkit.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("unknown attribute did not raise")


def test_type_checkers_see_the_lazy_names():
    """The ``if TYPE_CHECKING:`` imports name each lazy attribute from the module it is loaded from."""
    tree = ast.parse(INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    declared = {a.asname or a.name: node.module for node in block.body if isinstance(node, ast.ImportFrom)
                for a in node.names}
    assert declared == affectkit._LAZY
