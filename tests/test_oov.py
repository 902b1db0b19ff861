"""R_oov claim measure: OOV counts rebuilt from a record's predictions and its task's data equal the R_oov the
run scored, under both word lists; the data must be the run's; the Table 3 claims read the paper's column."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from fgkf_core import study
from fgkf_core.data import atomic_write_text, read_text_file
from fgkf_core.runs import load_records
from fgkf_core.study.oov import oov_counts, record_train_words
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def zx_full(data_dir) -> list[dict]:
    records = load_records(ROOT / "results", task="cws_zx", profile="full")
    assert records, "the committed full cws_zx records are missing from results/"
    return records


def test_rebuilt_counts_equal_every_full_records_own_r_oov(zx_full, data_dir):
    for rec in zx_full:
        right, total = oov_counts(rec, data_dir).sum(0)
        assert total == rec["test"]["n_oov"], rec["_path"]
        assert 100 * right / total == pytest.approx(rec["test"]["roov"], rel=1e-12), rec["_path"]


def test_the_target_word_list_holds_more_oov_words_sentence_by_sentence(zx_full, data_dir):
    rec = zx_full[0]
    both, target = oov_counts(rec, data_dir, "both"), oov_counts(rec, data_dir, "target")  # [n, 2] each
    assert both.shape == target.shape and (target[:, 1] >= both[:, 1]).all() and target[:, 1].sum() > both[:, 1].sum()
    assert record_train_words(rec, data_dir, "target") < record_train_words(rec, data_dir, "both")


def test_counts_are_kept_per_predictions_file_and_redone_when_it_is_rewritten(zx_full, data_dir, tmp_path):
    rec = copy.deepcopy(zx_full[0])
    src = Path(rec["_path"]).parent / rec["files"]["predictions"]
    (tmp_path / src.name).write_bytes(src.read_bytes())
    rec["_path"] = str(tmp_path / Path(rec["_path"]).name)
    first = oov_counts(rec, data_dir)  # [n, 2]
    first[:] = -1  # a caller's copy: changing it must not reach the kept counts
    kept = oov_counts(rec, data_dir)
    assert (kept >= 0).all() and kept[:, 0].sum() < kept[:, 1].sum()  # the run missed some OOV words
    lines = [line.rsplit("\t", 2) for line in read_text_file(tmp_path / src.name).split("\n")]
    perfect = "\n".join("\t".join([x[0], x[1], x[1]]) if len(x) == 3 else "" for x in lines)
    atomic_write_text(tmp_path / src.name, perfect)  # every prediction now gold: all OOV words right
    redone = oov_counts(rec, data_dir)
    assert (redone[:, 0] == redone[:, 1]).all() and (redone[:, 1] == kept[:, 1]).all()


def test_data_that_is_not_the_runs_is_refused_naming_the_file(zx_full, data_dir):
    rec = copy.deepcopy(zx_full[0])
    rec["data"]["root_relative_sha256"]["zhuxian_cws/test.tsv"] = "0" * 64
    with pytest.raises(ValueError, match=r"sha256 differs for zhuxian_cws/test.tsv"):
        oov_counts(rec, data_dir)
    with pytest.raises(ValueError, match="valid: both, target"):
        oov_counts(zx_full[0], data_dir, "source")


def test_r_oov_claims_exist_for_cws_only_and_read_the_papers_column():
    claims = {c.key: c for c in study.main_claims(["cws_zx", "pos_en"])}
    roov = [c for c in claims.values() if c.measure.startswith("roov")]
    assert sorted(c.key for c in roov) == [
        "cws_zx_roov_fgkf_vs_basic_kd", "cws_zx_roov_fgkf_vs_target_only",
        "cws_zx_roov_target_fgkf_vs_basic_kd", "cws_zx_roov_target_fgkf_vs_target_only"]
    for key in ("cws_zx_roov_fgkf_vs_basic_kd", "cws_zx_roov_target_fgkf_vs_basic_kd"):
        assert study.paper_delta(claims[key])[0] == pytest.approx(77.26 - 74.08)  # Table 3's one R_oov column
    assert study.paper_delta(claims["cws_zx_fgkf_vs_basic_kd"])[0] == pytest.approx(95.01 - 94.23)


def test_a_roov_claim_is_judged_on_oov_counts(zx_full, data_dir):
    (claim,) = [c for c in study.main_claims(["cws_zx"]) if c.key == "cws_zx_roov_fgkf_vs_basic_kd"]
    j = study.judge_all([claim], "main_results", zx_full, study.plain(["fgkf", "basic_kd"]), "quick")[0]
    plain = [r for r in zx_full if r["method"] == "fgkf" and not r["config_layers"]["overrides"]]
    fgkf = [r["test"]["roov"] for r in plain]  # the plain seeds (the bfloat16 twin, Table 4's cells: other variants)
    assert j.profile == "full" and j.result.mean_b == pytest.approx(np.mean(fgkf), rel=1e-9)


def test_roov_table_shows_both_word_lists_beside_the_paper(zx_full, data_dir):
    rows = study.roov_rows(zx_full, study.plain(["target_only", "basic_kd", "fgkf"]), "quick", data_dir)
    table = study.roov_table(rows)
    assert sorted(table["variant"]) == ["basic_kd", "fgkf", "target_only"] and set(table["task"]) == {"cws_zx"}
    row = table.set_index("variant").loc["target_only"]
    mean = np.mean([r["test"]["roov"] for r in zx_full if r["method"] == "target_only" and "99cd1cd69512" in r["_path"]])
    assert row["R_oov, OOV not in both domains' training words"].startswith(f"{mean:.2f} ± ")
    assert row["R_oov, OOV not in both domains' training words"].endswith("(3, full)")
    assert row["paper R_oov"] == "65.81"


def test_word_list_reading_counts_the_nearer_list_per_row():
    """Per row the list nearer the paper's R_oov, and the list with the smaller mean gap is named; full rows
    are read where any exist, reduced ones only without them."""
    def row(profile, both, target, paper=70.0):
        return {"task": "cws_zx", "variant": "v", "profile": profile, "paper": paper,
                "scores": {"both": [both], "target": [target]}}

    rows = [row("full", 60.0, 69.0), row("full", 71.0, 75.0), row("full", 50.0, 70.5), row("quick", 70.0, 10.0)]
    text = study.roov_list_reading(rows)
    assert text.startswith("Over the 3 full-profile rows")
    assert "both domains' training words: nearer in 1, mean |ours − paper| 10.33" in text
    assert "the target's training words: nearer in 2, mean |ours − paper| 2.17" in text
    assert "the list of the target's training words lands nearer" in text
    assert study.roov_list_reading([row("quick", 70.0, 10.0)]).startswith("Over the 1 quick-profile rows")
    assert "neither word list" in study.roov_list_reading([row("full", 1.0, 2.0, paper=None)])
