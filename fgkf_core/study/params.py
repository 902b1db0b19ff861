"""Notebook parameters: list-valued parameters from papermill, each page's default tasks, seeds and Figure 5
shares per profile, and the banner that states which profile produced a page.

Checking the profile and locating the results folder belong to the runs layer (`fgkf_core.ensure`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence


#: the paper's six settings, in the column order of Table 3
SETTINGS = ["cws_zx", "cws_weibo", "pos_zh", "pos_en", "ner_zh", "ner_en"]


def as_list(value: Any) -> list | None:
    """Notebook parameter -> list: None stays None, a YAML/str list (``'[a, b]'`` from `papermill -p`) is parsed,
    a scalar becomes a one-element list."""
    if value is None:
        return None
    if isinstance(value, str):
        import yaml

        value = yaml.safe_load(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


#: tasks of each page when none are given. The committed quick study is sized for a 2-core CPU: pages whose
#: paper setting is CWS (Table 4, Figure 5) run their grid on ner_en there and Figure 4 uses ner_zh for Chinese;
#: the main table lists all six, cws_weibo from its full-profile records (no quick cws_weibo run is committed).
DEFAULT_TASKS: dict[str, list[str]] = {
    "main_results": SETTINGS, "cws_variants": ["cws_zx", "cws_weibo"], "relevance_split": ["pos_en", "ner_en"],
    "relevance_heatmaps": ["cws_zx", "ner_en"], "fidelity": ["ner_en"], "data_size": ["cws_weibo"],
    "fusion_weights": ["cws_zx"],
}
PROFILE_TASKS: dict[str, dict[str, list[str]]] = {
    "smoke": {"main_results": ["cws_zx", "pos_en", "ner_en"], "cws_variants": ["cws_zx"], "data_size": ["ner_en"],
              "fusion_weights": ["ner_en"]},
    "quick": {
        "cws_variants": ["ner_en"],
        "relevance_heatmaps": ["ner_zh", "ner_en"], "data_size": ["ner_en"],
    },
}
#: seeds of each page when none are given: three where the paper's claims need a variance estimate
PROFILE_SEEDS: dict[str, dict[str, list[int]]] = {
    "smoke": {},
    "quick": {"relevance_split": [1, 2, 3], "fusion_weights": [1, 2, 3]},
    "full": {"*": [1, 2, 3]},
}


def default_tasks(page: str, profile: str) -> list[str]:
    """A page's tasks when none are given (fewer in reduced profiles, to fit their compute budget)."""
    return list(PROFILE_TASKS.get(profile, {}).get(page, DEFAULT_TASKS[page]))


def default_fractions(profile: str) -> list[float]:
    """Figure 5's shares of the target pool: 20%..100% (smoke and quick: the two ends)."""
    return {"smoke": [0.2, 1.0], "quick": [0.2, 1.0]}.get(profile, [0.2, 0.4, 0.6, 0.8, 1.0])


def default_pool(task: str) -> float:
    """Figure 5's pool: 10% of the Weibo training set as in the paper, the whole target train elsewhere."""
    return 0.10 if task == "cws_weibo" else 1.0


def default_seeds(profile: str, page: str = "*") -> list[int]:
    """Seeds of a page when none are given (see PROFILE_SEEDS)."""
    table = PROFILE_SEEDS.get(profile, {})
    return list(table.get(page, table.get("*", [1])))


def run_seeds(records: Iterable[dict]) -> list[int]:
    """The seeds of the runs a page shows (sorted, distinct): what its prose and banner state."""
    return sorted({r["seed"] for r in records})


def seeds_text(records: Iterable[dict], cell: Callable[[dict], str] | None = None) -> str:
    """The seeds of the runs a page shows, as one statement: '1, 2, 3'. With `cell` (record -> the label of the
    table cell it feeds), the cells whose seeds differ from the page's are named: '1, 2, 3 (fgkf@0.2: 1)'."""
    records = list(records)
    seeds = run_seeds(records)
    text = ", ".join(map(str, seeds)) or "none"
    if cell is None:
        return text
    by_cell: dict[str, set[int]] = {}
    for r in records:
        by_cell.setdefault(cell(r), set()).add(r["seed"])
    odd = [f"{label}: {', '.join(map(str, sorted(s)))}" for label, s in by_cell.items() if sorted(s) != seeds]
    return f"{text} ({'; '.join(odd)})" if odd else text


def settings_text(profile: str, records: Iterable[dict]) -> tuple[str, str]:
    """(profile, seeds) statements for the runs a page shows: 'quick', '1, 2, 3' where all are of the page's
    profile; where full-profile records stand in for some cells, 'quick (full where recorded)' and
    'full: 1, 2, 3, 4, 5; quick: 1, 2, 3'."""
    by_profile: dict[str, set[int]] = {}
    for r in records:
        by_profile.setdefault(r["profile"], set()).add(r["seed"])
    if set(by_profile) <= {profile}:
        return profile, ", ".join(map(str, sorted(by_profile.get(profile, ())))) or "none"
    order = sorted(by_profile, key=lambda p: (p != "full", p))
    seeds = "; ".join(f"{p}: {', '.join(map(str, sorted(by_profile[p])))}" for p in order)
    return f"{profile} (full where recorded)", seeds


def banner(profile: str, seeds: Sequence[int] | str | None, reads_full: bool = True, **grid: Any) -> None:
    """Print the profile, the seeds and the grid that produce the page, flagging reduced profiles loudly.

    `seeds` is said once, here: pass the seeds of the runs shown (`seeds_text`) where the page has loaded them;
    `reads_full`: the page also reads full-profile records where they exist (most pages; the banner says so).
    It also makes the page show every row and column of the tables it displays (pandas elides rows past 60).
    """
    import pandas as pd
    from IPython.display import Markdown, display

    pd.set_option("display.max_rows", None, "display.max_columns", None)  # a page's table is shown whole

    reduced = profile != "full"
    print(f"profile: {profile}{' (REDUCED)' if reduced else ''}")
    if seeds is not None:
        print(f"seeds: {seeds if isinstance(seeds, str) else ', '.join(map(str, seeds))}")
    for key, value in grid.items():
        print(f"{key}: {value}")
    if reduced:
        what = {
            "smoke": "tiny data slices and a few steps: it validates the pipeline, its numbers mean nothing",
            "quick": "shrunk data, schedule and capsules on CPU: numbers are indicative, not the paper's setting",
        }.get(profile, "a reduced configuration (see fgkf_core.config.PROFILES)")
        if reads_full and profile != "smoke":
            what += "; full-profile records, where they exist, stand in (each cell and claim names its profile)"
        display(Markdown(f"> **Reduced profile `{profile}`**: {what}."))
