"""Shared fixtures: one torch thread, the real data root, tiny synthetic data and smoke configs.

The suite runs on 2 shared CPU cores: every training test uses the `smoke` profile (or smaller).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)

DEFAULT_DATA = Path("/work/shared/data")
if not os.environ.get("FGKF_DATA") and DEFAULT_DATA.is_dir():
    os.environ["FGKF_DATA"] = str(DEFAULT_DATA)


def _real_data_root() -> Path | None:
    root = os.environ.get("FGKF_DATA")
    if root and (Path(root) / "twitter_ner_ritter2011").is_dir():
        return Path(root)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data root ($FGKF_DATA); tests that need it are skipped when it is absent."""
    root = _real_data_root()
    if root is None:
        pytest.skip("real data root not available (set FGKF_DATA)")
    return root


def write_tsv(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """Write token<TAB>tag sentences (blank line after each) to path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("".join(f"{t}\t{g}\n" for t, g in s) + "\n" for s in sentences), encoding="utf-8")
    return path


def tiny_pair(root: Path, bump: int = 0) -> tuple[Path, Path]:
    """A two-tag synthetic domain pair (source train; target train/dev/test) under root; `bump` shifts the tokens."""
    sents = [[(f"w{(i * 7 + j + bump) % 11}", "A" if (i + j) % 3 else "B") for j in range(2 + i % 4)] for i in range(50)]
    src, tgt = root / "src", root / "tgt"
    write_tsv(src / "train.tsv", sents[:30])
    write_tsv(tgt / "train.tsv", sents[:30])
    write_tsv(tgt / "dev.tsv", sents[30:40])
    write_tsv(tgt / "test.tsv", sents[40:])
    return src, tgt
