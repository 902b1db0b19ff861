"""The overview judges every page's claims and, where a reduced page runs another task, the paper's own
settings on full-profile records: 'not run' until those exist."""
from __future__ import annotations

from collections import Counter

from fgkf_core.study.overview import PAPER_SETTINGS, overview


def test_quick_overview_adds_the_papers_own_settings_as_not_run_without_records(tmp_path, data_dir):
    judged = overview("quick", tmp_path, data_dir)
    assert {j.verdict for j in judged} == {"not run"}  # an empty results folder: nothing is trained
    tasks = Counter((j.page, j.claim.task) for j in judged)
    assert all(tasks[("cws_variants", t)] for t in ("ner_en", "cws_zx", "cws_weibo"))
    assert tasks[("ablation", "pos_en")] == tasks[("ablation", "ner_en")] == 6
    assert tasks[("data_size", "ner_en")] == tasks[("data_size", "cws_weibo")] == 1
    assert set(PAPER_SETTINGS["cws_variants"]) == {"cws_zx", "cws_weibo"}
    main_roov = [j for j in judged if j.page == "main_results" and j.claim.measure.startswith("roov")]
    assert {j.claim.task for j in main_roov} == {"cws_zx", "cws_weibo"} and len(main_roov) == 8
