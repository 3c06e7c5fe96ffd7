"""Precision helpers: the choice check and the generator's autocast (used by the inversion loop)."""

import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.precision import PRECISIONS, autocast, check_precision


def test_check_precision_accepts_the_choices_and_names_them_otherwise():
    assert [check_precision(p) for p in PRECISIONS] == ["fp32", "bf16"]
    with pytest.raises(GanpriorError, match="unknown precision 'fp16'; choose fp32 or bf16"):
        check_precision("fp16")
    with pytest.raises(GanpriorError, match="unknown precision"):
        with autocast("fp16", "cpu"):
            pass


def test_autocast_leaves_fp32_alone_and_casts_bf16_on_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("fp32", "cpu"):
        assert (a @ b).dtype == torch.float32
    with autocast("bf16", torch.device("cpu")):
        assert (a @ b).dtype == torch.bfloat16
    assert (a @ b).dtype == torch.float32


def test_precision_and_inversion_do_not_import_batching():
    """batching -> inversion -> precision, one way: precision needs only the errors module."""
    import ast
    from pathlib import Path

    import ganprior.inversion as inversion
    import ganprior.precision as precision

    def imported(path: Path) -> set[str]:
        """The ganprior modules a file imports, named relative to the package (``errors``)."""
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("ganprior")):
                found.add((node.module or "").removeprefix("ganprior."))
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("ganprior.") for a in node.names if a.name.startswith("ganprior")}
        return found

    assert imported(Path(precision.__file__)) == {"errors"}
    for path in Path(inversion.__file__).parent.glob("*.py"):
        assert "batching" not in imported(path), path.name
