"""Refactoring guard: a fixed set of smoke runs and initial weights must reproduce stored golden values bitwise.

The golden file `tests/data/smoke_golden.json` holds, per run, the record's numbers (test and dev scores, dev
curve, best step, steps, alpha trace, stop reason) and digests of its side files, per processor
(`identity.cpu_model`: another CPU's kernels move the last bits, e.g. AMD EPYC vs Intel Xeon by up to 1.4e-6
relative on these runs); per method, the parameter names in registration order and a digest of the initial
state_dict (the same on every CPU). On a processor with its own entry floats are compared exactly; on any
other, against the first entry within `REL_TOL` (steps, stop reasons and predictions still exactly).

A change that is *meant* to change numbers (a numerical speed-up, a new default) regenerates the file:

    python tests/test_refactor_identity.py --update

which keeps only this processor's entry (the others are stale after such a change), and the diff of the golden
file goes into the same commit, with the reason in its message. `--add-machine` adds this processor's entry
beside the others, for code whose numbers did not change (run it on a clean checkout of a passing commit).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "data" / "smoke_golden.json"
TASK = "ner_en"
RUNS: list[tuple[str, str]] = [  # (method, formulation)
    ("target_only", "paper"), ("basic_kd", "paper"), ("fgkf", "paper"), ("fgkf", "code"), ("nal", "paper"),
    ("amcl", "paper"),
]
RECORD_KEYS = ("test", "dev", "dev_curve", "best_dev", "best_step", "steps", "stop_reason", "alpha_trace")
REL_TOL = 1e-5  # on another processor than the golden entries': floats within this relative difference


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_numbers(method: str, formulation: str, results_dir: Path) -> dict[str, Any]:
    """One smoke run's numbers and side-file digests (digested decompressed: the gzip layer is not a number)."""
    import fgkf_core
    from fgkf_core.data import read_text_file
    from fgkf_core.relevance_store import load_relevance
    from fgkf_core.runs import record_path

    rec = fgkf_core.run(TASK, method, seed=1, profile="smoke", formulation=formulation, results_dir=results_dir,
                        progress=False, device="cpu", force=True)
    out = {k: rec[k] for k in RECORD_KEYS}
    path = record_path(results_dir, rec["task"], method, "smoke", rec["config_hash"], 1)
    out["predictions_sha256"] = _sha(read_text_file(path.parent / rec["files"]["predictions"]).encode("utf-8"))
    if "relevance" in rec["files"]:  # digested as loaded rows in format 1's text: the file's layout is not a number
        loaded = load_relevance(dict(rec, _path=str(path)))
        out["relevance_sha256"] = _sha(json.dumps(loaded).encode("utf-8"))
    return json.loads(json.dumps(out))  # the JSON view: tuples become lists, as in the golden file


def init_fingerprint(method: str, formulation: str) -> dict[str, Any]:
    """Parameter names in registration order and a digest of the initial state_dict of `method`'s system."""
    from fgkf_core.config import resolve
    from fgkf_core.methods import BuildContext, get_method

    cfg, _ = resolve(TASK, "smoke", formulation)
    torch.manual_seed(1)
    system = get_method(method).build(cfg, BuildContext(vocab_size=57, n_tags=5, features="word", max_len=20))
    digest = hashlib.sha256()
    for name, tensor in system.state_dict().items():
        digest.update(name.encode() + b"\0" + tensor.detach().cpu().contiguous().numpy().tobytes())
    return {
        "parameters": [name for name, _ in system.named_parameters()],
        "state_dict_sha256": digest.hexdigest(),
        "rng_after_build": torch.rand(3).tolist(),  # the build consumed the same random numbers
    }


def _fingerprint_keys() -> list[tuple[str, str]]:
    """Every registered method in the paper formulation, and fgkf in the code one (its extra source classifier)."""
    from fgkf_core.methods import METHODS

    return [(m, "paper") for m in sorted(METHODS)] + [("fgkf", "code")]


def compute(results_dir: Path) -> dict[str, Any]:
    """Everything the golden file holds, computed from the code as it is now."""
    return {
        "runs": {f"{m}/{f}": run_numbers(m, f, results_dir) for m, f in RUNS},
        "init": {f"{m}/{f}": init_fingerprint(m, f) for m, f in _fingerprint_keys()},
    }


# ----------------------------------------------------------------------------- tests

def _golden() -> dict[str, Any]:
    """The stored golden values (see the module docstring to regenerate them)."""
    return json.loads(GOLDEN.read_text())


def test_initial_weights_identical():
    golden = _golden()["init"]
    assert sorted(golden) == sorted(f"{m}/{f}" for m, f in _fingerprint_keys())
    for key, expected in golden.items():
        method, formulation = key.split("/")
        assert init_fingerprint(method, formulation) == expected, key


def _close(got: Any, expected: Any, where: str) -> None:
    """Assert `got` equals `expected` with floats within REL_TOL (another processor's last bits)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), f"{where}: keys differ"
        for k in expected:
            _close(got[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: length differs"
        for i, (g, e) in enumerate(zip(got, expected)):
            _close(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(got, float):
        assert abs(got - expected) <= REL_TOL * max(abs(expected), 1e-12), f"{where}: {got} vs {expected}"
    else:
        assert got == expected, f"{where}: {got!r} vs {expected!r}"


def test_other_processors_are_held_to_last_bits_only():
    _close({"a": [1.0, 3]}, {"a": [1.0 + 1e-7, 3]}, "x")  # within REL_TOL
    import pytest

    for got, expected in (({"a": [1.001, 3]}, {"a": [1.0, 3]}), ({"a": [1.0, 4]}, {"a": [1.0, 3]}),
                          ({"a": [1.0]}, {"a": [1.0, 3]}), ({"b": 1.0}, {"a": 1.0})):
        with pytest.raises(AssertionError, match="^x"):
            _close(got, expected, "x")


def test_smoke_runs_identical(tmp_path, data_dir):
    from fgkf_core.identity import cpu_model

    torch.set_num_threads(1)
    entries = _golden()["runs"]
    exact = entries.get(cpu_model())
    golden = exact if exact is not None else next(iter(entries.values()))
    assert sorted(golden) == sorted(f"{m}/{f}" for m, f in RUNS)
    for method, formulation in RUNS:
        got = run_numbers(method, formulation, tmp_path)
        expected = golden[f"{method}/{formulation}"]
        assert got.keys() == expected.keys()
        for key in expected:
            if exact is not None:
                assert got[key] == expected[key], f"{method}/{formulation}: {key} differs"
            elif key != "relevance_sha256":  # relevance values are stored rounded: a last bit can flip a digit
                _close(got[key], expected[key], f"{method}/{formulation}: {key}")


if __name__ == "__main__":
    if sys.argv[1:] not in (["--update"], ["--add-machine"]):
        raise SystemExit(f"usage: python {Path(__file__).name} --update | --add-machine   (rewrites "
                         f"{GOLDEN.relative_to(ROOT)})")
    import tempfile

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("FGKF_DATA", "/work/shared/data")
    torch.set_num_threads(1)
    from fgkf_core.identity import cpu_model

    with tempfile.TemporaryDirectory() as tmp:
        values = compute(Path(tmp))
    if sys.argv[1] == "--add-machine":
        old = _golden()
        if old["init"] != values["init"]:
            raise SystemExit("initial weights differ from the golden file: the code changed numbers; use --update")
        values = {"runs": old["runs"] | {cpu_model(): values["runs"]}, "init": old["init"]}
    else:
        values = {"runs": {cpu_model(): values["runs"]}, "init": values["init"]}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1) + "\n")
    print(f"wrote {GOLDEN} ({', '.join(values['runs'])})")
