"""`compare` from run records: fake records with constructed predictions, read back as a user would."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fgkf_core import cli
from fgkf_core.compare_cli import parse_variant
from fgkf_core.config import resolve
from fgkf_core.runs import load_records
from fgkf_core.stats import compare

N_SENTENCES = 100


NER_TAGS = ("B-PER", "O", "O")  # the tag to find, the wrong prediction, the filler


def write_record(root: Path, task: str, method: str, seed: int, n_right: int, overrides: dict | None = None,
                 formulation: str = "paper", profile: str = "quick", tags: tuple[str, str, str] = NER_TAGS) -> None:
    """A record whose two-token test sentences have their first tag right in the first `n_right` sentences."""
    cfg, layers = resolve(task, profile, formulation, **(overrides or {}))
    stem = root / "runs" / task / method / f"{profile}-{cfg.hash()}-s{seed}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    find, wrong, filler = tags
    lines = [f"w{i}\t{find}\t{find if i < n_right else wrong}\nx\t{filler}\t{filler}\n" for i in range(N_SENTENCES)]
    stem.with_suffix(".pred.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = {
        "task": task, "method": method, "seed": seed, "profile": profile, "formulation": formulation,
        "config": cfg.to_dict(), "config_hash": cfg.hash(), "config_layers": layers,
        "files": {"predictions": stem.name + ".pred.tsv"},
    }
    stem.with_suffix(".json").write_text(json.dumps(record), encoding="utf-8")


def run_compare(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["compare", *args, "--results-dir", str(root), "--draws", "500"])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def results(tmp_path: Path) -> Path:
    for seed, (a, b) in enumerate([(50, 60), (48, 58), (52, 62)], start=1):  # B: 10 more sentences right
        write_record(tmp_path, "ner_en", "basic_kd", seed, a)
        write_record(tmp_path, "ner_en", "fgkf", seed, b)
    write_record(tmp_path, "ner_en", "fgkf", 1, 40, {"gradient_block": False})
    write_record(tmp_path, "ner_en", "fgkf", 1, 30, formulation="code")
    return tmp_path


def test_compare_pools_seeds_and_reports_seed_spread(results):
    records = load_records(results, task="ner_en")
    plain = lambda m: [r for r in records if r["method"] == m and not r["config_layers"]["overrides"]  # noqa: E731
                       and r["formulation"] == "paper"]
    res = compare(plain("basic_kd"), plain("fgkf"), n_draws=500)
    f1 = lambda right: 100 * 2 * right / (right + N_SENTENCES)  # precision 1, recall right/100  # noqa: E731
    assert (res.n_a, res.n_b) == (3, 3)
    assert res.mean_a == pytest.approx((f1(50) + f1(48) + f1(52)) / 3)
    assert res.std_a == pytest.approx(f1(52) - f1(50), rel=0.05)  # three equally spaced seeds: std = the step
    assert res.test.delta == pytest.approx(f1(60) - f1(50))  # pooled counts: 50 and 60 right on average
    assert res.test.ci_low > 0


def test_cli_prints_delta_ci_mde_and_the_table3_verdict(capsys, results):
    code, out, err = run_compare(capsys, results, "ner_en", "basic_kd", "fgkf")
    assert code == 0, err
    assert "A = basic_kd: 3 seed(s)" in out and "B = fgkf: 3 seed(s)" in out
    assert "Δ (B − A) = +8.33" in out  # F1 from 50 to 60 of 100 entities at precision 1: 66.67 -> 75
    assert "95% CI [+" in out and "MDE at 80% power" in out
    assert "paper Δ (B − A, table3) = +1.66; verdict: reproduced" in out


def test_cli_matches_variants_by_config_and_uses_table7(capsys, results):
    code, out, err = run_compare(capsys, results, "ner_en", "fgkf", "fgkf[gradient_block=false]")
    assert code == 0, err
    assert "A = fgkf: 3 seed(s)" in out and "B = fgkf[gradient_block=false]: 1 seed(s)" in out
    assert "± n/a" in out
    assert "paper Δ (B − A, table7) = -4.98; verdict: inconclusive (n<3)" in out
    code, out, err = run_compare(capsys, results, "ner_en", "basic_kd", "fgkf[formulation=code]", "--scoring", "paper")
    assert code == 0, err
    assert "paper scoring" in out and "B = fgkf[formulation=code]: 1 seed(s)" in out
    assert "paper Δ: none" in out


def test_cli_errors_say_which_records_exist(capsys, results):
    code, _, err = run_compare(capsys, results, "ner_en", "target_only", "fgkf")
    assert code == 2 and "methods with records: basic_kd, fgkf" in err
    code, _, err = run_compare(capsys, results, "ner_en", "basic_kd", "fgkf[alpha=elem]")
    assert code == 2 and 'recorded overrides of fgkf: {"gradient_block": false}; {}' in err
    code, _, err = run_compare(capsys, results, "ner_en", "basic_kd", "fgkf[no_such_key=1]")
    assert code == 2 and "unknown config keys ['no_such_key']" in err


def test_cli_not_comparable_task(capsys, tmp_path):
    for seed in (1, 2, 3):
        write_record(tmp_path, "pos_zh", "basic_kd", seed, 50, tags=("NN", "VV", "PU"))
        write_record(tmp_path, "pos_zh", "fgkf", seed, 60, tags=("NN", "VV", "PU"))
    code, out, err = run_compare(capsys, tmp_path, "pos_zh", "basic_kd", "fgkf")
    assert code == 0, err
    assert "Δ (B − A) = +5.00" in out  # 150 -> 160 of 200 tokens right
    assert "verdict: not comparable (Not comparable to the paper: different source domain" in out


def test_parse_variant_values_as_json():
    spec = parse_variant("fgkf[alpha=elem, warm_up=false, lr=0.001, formulation=code]")
    assert (spec.method, spec.formulation) == ("fgkf", "code")
    assert spec.overrides == {"alpha": "elem", "warm_up": False, "lr": 0.001}
    with pytest.raises(ValueError, match=r"METHOD\[key=value"):
        parse_variant("fgkf[alpha=elem")
    with pytest.raises(ValueError, match="key=value inside the brackets"):
        parse_variant("fgkf[alpha]")


def test_r_oov_measure_on_the_committed_full_cws_records(capsys, data_dir):
    root = Path(__file__).resolve().parents[1] / "results"
    code, out, _ = run_compare(capsys, root, "cws_zx", "basic_kd", "fgkf", "--profile", "full",
                               "--measure", "roov_target")
    assert code == 0 and "R_oov (OOV: not in the target's training words)" in out
    assert "paper Δ (B − A, table3) = +3.18" in out  # Table 3's R_oov column, not its F1 (+0.78)


def test_r_oov_measure_on_a_non_cws_task_is_a_clear_error(capsys, results):
    code, _, err = run_compare(capsys, results, "ner_en", "basic_kd", "fgkf", "--measure", "roov")
    assert code != 0 and "OOV recall is a word-segmentation measure; ner_en is scored by entity_f1" in err
