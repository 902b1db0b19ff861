"""`python -m fgkf_core data check`: validate a data root against the task registry and say where data comes from."""
from __future__ import annotations

from pathlib import Path

from .data import DataFormatError, read_conll
from .tasks import TASKS, data_root

#: public origin and licence of every dataset folder the registry uses (from the data manifest)
ORIGINS: dict[str, tuple[str, str]] = {
    "ctb6_cws": ("hankcs/multi-criteria-cws @ 24be488 (data/other/ctb)", "CTB6 is LDC2007T36; repo GPL-3.0"),
    "zhuxian_cws": ("hankcs/multi-criteria-cws @ 24be488 (data/other/zx)", "repo GPL-3.0"),
    "zhuxian_pos": ("hankcs/multi-criteria-cws @ 24be488 (data/other/zx)", "repo GPL-3.0"),
    "weibo_cws_nlpcc2016": (
        "FudanNLP/NLPCC-WordSeg-Weibo @ 07e148b; gold test snlam/NLPCC-WordSeg-Weibo @ ca59d1c",
        "no licence file; authors ask for a signed FDU agreement form",
    ),
    "weibo_pos_wtb_silver": ("hankcs/multi-criteria-cws @ 24be488 (data/other/wtb)", "research use only; keep its README"),
    "ptb_wsj_pos_ontonotes": ("HrishikeshVish/Fairpy @ 65b610e (OntoNotes 5.0 nw/wsj)", "LDC-restricted (Treebank-3 / OntoNotes)"),
    "twitter_pos_ritter2011": ("deq2/TwitterTagger @ a647550 (T-POS split); aritter/twitter_nlp", "GPL-3.0 (twitter_nlp)"),
    "msra_ner": ("zhooufeng/Data @ 5336c79 (MSRA.zip)", "repo Apache-2.0; data licence not stated"),
    "weibo_ner_2015orig": ("hltcoe/golden-horse @ 7a73c08 (weiboNER.conll.*)", "CC BY-SA 3.0"),
    "weibo_ner": ("hltcoe/golden-horse @ 7a73c08 (weiboNER_2nd_conll.*)", "CC BY-SA 3.0"),
    "ontonotes5_en_ner": ("HrishikeshVish/Fairpy @ 65b610e (CoNLL-2012 v12)", "LDC2013T19 (LDC user agreement)"),
    "twitter_ner_ritter2011": ("aritter/twitter_nlp @ 65f3d77 (data/annotated/ner.txt)", "GPL-3.0"),
}


def check_folder(folder: Path) -> tuple[bool, str]:
    """Parse every split file of one dataset folder; return (ok, summary or first error)."""
    if not folder.is_dir():
        return False, "missing"
    files = sorted(folder.glob("*.tsv"))
    if not files:
        return False, "no *.tsv files"
    parts = []
    for f in files:
        try:
            parts.append(f"{f.stem} {len(read_conll(f))}")
        except DataFormatError as err:
            return False, str(err)
    return True, ", ".join(parts) + " sentences"


def check(data_dir: str | Path | None = None) -> int:
    """Print a table of every dataset the tasks need; exit code 1 when any is missing or malformed."""
    root = data_root(data_dir)
    needed: dict[str, list[str]] = {}
    for task in TASKS.values():
        for role, folder in (("source", task.source), ("target", task.target)):
            needed.setdefault(folder, []).append(f"{task.name} {role}")
    bad = 0
    print(f"data root: {root}")
    for folder, uses in needed.items():
        ok, summary = check_folder(root / folder)
        origin, licence = ORIGINS.get(folder, ("unknown", "unknown"))
        bad += not ok
        print(f"[{'ok' if ok else 'MISSING'}] {folder}: {summary}\n      used by: {', '.join(uses)}\n"
              f"      origin: {origin}\n      licence: {licence}")
    print("all datasets present" if not bad else f"{bad} dataset(s) missing or malformed (see MANIFEST / README)")
    return 1 if bad else 0
