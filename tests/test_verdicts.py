"""Claims judged from constructed run records with known answers (paired bootstrap verdicts), and the Table 4
page's matching of records to rows by resolved configuration."""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from fgkf_core import study
from fgkf_core.config import resolve
from fgkf_core.runs import load_records

N_SENTENCES = 100


def write_record(root: Path, task: str, method: str, seed: int, right: range, overrides: dict | None = None,
                 profile: str = "quick", tags: tuple[str, str, str] = ("B-PER", "O", "O")) -> None:
    """A record whose two-token test sentences have their first tag right exactly in the sentences `right`."""
    cfg, layers = resolve(task, profile, "paper", **(overrides or {}))
    stem = root / "runs" / task / method / f"{profile}-{cfg.hash()}-s{seed}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    find, wrong, filler = tags
    lines = [f"w{i}\t{find}\t{find if i in right else wrong}\nx\t{filler}\t{filler}\n" for i in range(N_SENTENCES)]
    stem.with_suffix(".pred.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = {"task": task, "method": method, "seed": seed, "profile": profile, "formulation": "paper",
              "config": cfg.to_dict(), "config_layers": layers, "files": {"predictions": stem.name + ".pred.tsv"},
              "test": {"score": 100.0 * len(right) / N_SENTENCES}}
    stem.with_suffix(".json").write_text(json.dumps(record), encoding="utf-8")


def judged(root: Path, profile: str = "quick", task: str = "ner_en") -> study.Judgement:
    """FGKF > basicKD on `task`, judged on the records under `root`."""
    (claim,) = [c for c in study.main_claims([task]) if c.worse == "basic_kd"]
    return study.judge_all([claim], "main_results", load_records(root), study.plain(["fgkf", "basic_kd"]), profile)[0]


def seeds(root: Path, n: int, basic: range, fgkf: range, **kw) -> Path:
    for s in range(1, n + 1):
        write_record(root, kw.get("task", "ner_en"), "basic_kd", s, basic, **{k: v for k, v in kw.items() if k != "task"})
        write_record(root, kw.get("task", "ner_en"), "fgkf", s, fgkf, **{k: v for k, v in kw.items() if k != "task"})
    return root


def test_a_clear_gain_with_three_seeds_is_reproduced(tmp_path):
    j = judged(seeds(tmp_path, 3, range(50), range(80)))  # FGKF finds 30 more of the 100 entities
    assert j.verdict == "reproduced (larger than the paper's Δ)" and j.category == "reproduced"  # +13 v +1.66
    assert j.result.test.ci_low > 0 and j.profile == "quick" and (j.n_better, j.n_worse) == (3, 3)
    assert j.paper_delta == pytest.approx(63.81 - 62.15)


def test_the_same_gain_is_contradicted_when_reversed(tmp_path):
    assert judged(seeds(tmp_path, 3, range(80), range(50))).verdict == "contradicted"


def test_fewer_than_three_seeds_is_inconclusive_n_lt_3(tmp_path):
    assert judged(seeds(tmp_path, 2, range(50), range(80))).verdict == "inconclusive (n<3)"


def test_a_small_noisy_difference_is_underpowered(tmp_path):
    j = judged(seeds(tmp_path, 3, range(0, 50), range(2, 53)))  # 2 lost, 3 gained: one entity net
    assert not j.result.test.excludes_zero
    assert j.result.mde > abs(j.paper_delta)  # the paper's +1.66 is below what 100 sentences can detect
    assert j.verdict == "inconclusive (underpowered)"


def test_smoke_profile_gives_no_verdict(tmp_path):
    j = judged(seeds(tmp_path, 3, range(50), range(80), profile="smoke"), profile="smoke")
    assert j.verdict == "no verdict (smoke profile)" and j.result is not None  # Δ shown, no verdict


def test_substitute_data_is_not_comparable(tmp_path):
    root = seeds(tmp_path, 3, range(50), range(80), task="pos_zh", tags=("NN", "VV", "NN"))
    j = judged(root, task="pos_zh")
    assert j.verdict.startswith("not comparable (") and j.category == "not comparable"


def test_missing_side_is_not_run_and_counts_list_every_category(tmp_path):
    write_record(tmp_path, "ner_en", "fgkf", 1, range(80))
    j = judged(tmp_path)
    assert j.verdict == "not run" and j.ours() == "not run"
    counts = study.verdict_counts([j])
    assert counts["not run"] == 1 and set(counts) == set(study.CATEGORIES) and sum(counts.values()) == 1


def test_full_profile_records_are_preferred_per_claim(tmp_path):
    seeds(tmp_path, 3, range(50), range(52))
    seeds(tmp_path, 3, range(50), range(80), profile="full")
    j = judged(tmp_path)
    assert j.profile == "full" and j.verdict == "reproduced (larger than the paper's Δ)"


def test_table4_page_holds_a_row_for_every_recorded_variant(tmp_path):
    page = study.cws_variants_grid("quick", ["ner_en"])
    equivalent = {"sample_q_alpha_multi": {"warm_up": False}}  # Table 7's without_warm_up: the same run
    for v in page.variants:
        write_record(tmp_path, "ner_en", v.method, 1, range(40), equivalent.get(v.label, dict(v.overrides)))
    summ = study.summary(study.runs_frame(load_records(tmp_path), page.variants))
    cmp = study.compare(summ, study.paper_long("table4"), rows=[v.label for v in page.variants], tasks=page.tasks)
    table = study.compare_table(cmp)
    shown = {label for (_, label) in table.index}
    assert shown == {v.label for v in page.variants}
    assert not (table[("score (our scoring)", "reproduced")] == "not run").any()


def test_a_record_without_a_later_key_matches_only_its_neutral_value():
    """Records written before `split_seed` existed are runs of split 2019, not of every split."""
    from fgkf_core.config import resolve

    cfg, _ = resolve("ner_en", "quick")
    old = {"method": "target_only", "task": "ner_en", "profile": "quick",
           "config": {k: v for k, v in cfg.to_dict().items() if k != "split_seed"}}
    assert study.Variant("main", "target_only").matches(old)
    assert study.Variant("s2019", "target_only", {"split_seed": 2019}).matches(old)
    assert not study.Variant("s3", "target_only", {"split_seed": 3}).matches(old)


def test_a_gain_the_seeds_do_not_agree_on_is_inconclusive(tmp_path):
    """FGKF's three seeds find 40, 70 and 100 of the 100 entities (basicKD 50 each): over test sentences alone
    the pooled gain is decided, but the seeds scatter more than the gain, so the verdict's CI includes 0."""
    for s, found in zip((1, 2, 3), (40, 70, 100)):
        write_record(tmp_path, "ner_en", "basic_kd", s, range(50))
        write_record(tmp_path, "ner_en", "fgkf", s, range(found))
    j = judged(tmp_path)
    assert j.result.test.excludes_zero and not j.result.seeds.excludes_zero
    assert j.verdict == "inconclusive (underpowered)"  # and its MDE exceeds the paper's +1.66
    row = study.claims_table([j]).iloc[0]
    low, high = (float(x) for x in row["ours: Δ [95% CI]"].split("[")[1].rstrip("]").split(","))
    assert low < 0 < high  # the table shows the interval the verdict read...
    assert row["CI, sentences only"] == j.sentences_only() and float(j.sentences_only()[1:].split(",")[0]) > 0
    assert row["seeds for power"] == "> 50 (test set)"  # 100 sentences cannot show the paper's +1.66, seeds or not


def test_a_profile_the_measure_cannot_score_is_not_picked(tmp_path):
    """Table 5's split needs an FGKF relevance run of the same profile: full target-only and basicKD records
    without a full FGKF run must leave the claim on the page's profile (it raised before)."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class QuickOnly(study.ScoreMeasure):
        def usable(self, records: list[dict]) -> bool:
            return all(r["profile"] == "quick" for r in records)

    seeds(tmp_path, 3, range(50), range(80))
    seeds(tmp_path, 3, range(50), range(80), profile="full")
    (claim,) = [c for c in study.main_claims(["ner_en"]) if c.worse == "basic_kd"]
    variants = study.plain(["fgkf", "basic_kd"])
    records = load_records(tmp_path)
    assert study.judge_all([claim], "main_results", records, variants, "quick")[0].profile == "full"
    assert study.judge_all([claim], "main_results", records, variants, "quick", QuickOnly())[0].profile == "quick"
    split = study.SplitMeasure({"has-a-source.json": {}})
    assert split.usable([{"_path": "has-a-source.json"}]) and not split.usable([{"_path": "other.json"}])


def test_a_seed_without_gold_units_on_a_side_is_left_out_of_that_sides_claim(data_dir):
    """Committed full ner_en: one FGKF seed puts no gold entity on the strong side, so the strong-side claim
    compares the other seeds (as the page's score table does) and reads their fewest units."""
    from tests.conftest import ROOT

    methods = ["target_only", "basic_kd", "fgkf"]
    page = study.relevance_split_grid("quick", ["ner_en"], methods, study.default_seeds("quick", "relevance_split"))
    records = study.page_records(page, "quick", ROOT / "results", data_dir, None, 1, 1, train=False)
    units = study.split_units([r for r in records if r["profile"] == "full"])
    strong = units[units["unit"] == "entities"]["n_strong"].tolist()
    assert len(strong) == 3 and 0 in strong, strong  # the case this test is about
    kept = [u for u in strong if u]
    (j,) = [j for j in study.judge_page(page, records, "quick") if j.claim.measure == "strong"]
    assert j.profile == "full" and j.seeds() == f"{len(kept)} v {len(kept)}" and j.gold_units == min(kept)
    assert j.verdict == f"no verdict (strong side: {min(kept)} < {study.MIN_UNITS} gold units in a seed)"


def test_the_overviews_headline_lists_decided_claims_full_profile_first(tmp_path):
    from dataclasses import replace

    from fgkf_core.study.overview import decided_html

    won = judged(seeds(tmp_path, 3, range(50), range(80)))  # reproduced (larger than the paper's Δ), quick
    full = replace(won, profile="full")
    lost = replace(won, verdict="contradicted", profile="full")
    sized = replace(won, verdict="inconclusive (underpowered; excludes the paper's Δ)")
    undecided = replace(won, verdict="inconclusive (underpowered)")
    page = decided_html([won, undecided, full, lost, sized])
    groups = re.findall(r"<p><b>(.*?)</b>.*?</p><ul>(.*?)</ul>", page)
    assert [g[0] for g in groups] == ["Reproduced", "Contradicted",
                                      "The paper's size rejected, the direction undecided"]
    items = [[unescape(i) for i in re.findall(r"<li>(.*?)</li>", body)] for _, body in groups]
    assert [len(i) for i in items] == [2, 1, 1]  # the plain inconclusive claim is in no list
    assert "full profile" in items[0][0] and "<b>quick profile (reduced)</b>" in items[0][1]  # full first
    assert f"Δ {won.ours()}, paper +1.66" in items[0][0] and "larger than the paper's Δ" in items[0][0]
    assert items[0][0].startswith("Table 3, FGKF > basicKD (ner_en): Δ")
    assert items[2][0].endswith("3 v 3 seeds; underpowered")
    assert decided_html([undecided]).count("<li>none</li>") == 3
