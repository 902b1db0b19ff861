"""The book's overview: every claim any page judges (each page's default grid, `pages`), its verdict, and the
count of each verdict, glued for ``book/intro.md``. Where a reduced page runs its grid on another task than
the paper's (Table 4 and Figure 5 on ner_en, Table 7 on ner_en only), the paper's own settings are judged
too, on their full-profile records (`PAPER_SETTINGS`). Nothing is trained here: claims without records read
"not run"."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import pandas as pd

from .data_size import data_size_claim
from .glue import glue
from .pages import (
    ablation_grid, cws_variants_grid, data_size_grid, judge_page, main_results_grid, page_records,
    relevance_split_grid,
)
from .verdicts import CATEGORIES, Judgement, verdict_counts

#: page -> its title in the book (the overview links every claim to its page)
PAGE_TITLES = {
    "main_results": "Table 3", "cws_variants": "Table 4", "relevance_split": "Table 5", "ablation": "Table 7",
    "data_size": "Figure 5",
}


#: the paper's settings of Table 4, Table 7 and Figure 5 (page -> tasks), judged in the full profile
PAPER_SETTINGS = {
    "cws_variants": ("cws_zx", "cws_weibo"), "ablation": ("pos_en", "ner_en"), "data_size": ("cws_weibo",),
}


def overview(profile: str, results_dir: str | Path | None = None, data_dir: str | Path | None = None
             ) -> list[Judgement]:
    """Every page's claims, judged on its default grid's records (the page's profile and full where recorded),
    then the `PAPER_SETTINGS` the pages did not cover, on full-profile records (none in a smoke build)."""
    load = lambda page, p=profile: page_records(page, p, results_dir, data_dir, train=False)  # noqa: E731
    out: list[Judgement] = []
    main, _ = main_results_grid(profile)
    table4, table7 = cws_variants_grid(profile), ablation_grid(profile)
    for page in (main, table4, relevance_split_grid(profile), table7):
        out += judge_page(page, load(page), profile)
    size, _, fractions = data_size_grid(profile)
    out.append(data_size_claim(load(size), size.variants, size.tasks[0], fractions, profile, prefix="overview_size"))
    if profile == "smoke":
        return out
    covered = {"cws_variants": table4.tasks, "ablation": table7.tasks, "data_size": size.tasks}
    for page, tasks in PAPER_SETTINGS.items():
        for task in (t for t in tasks if t not in covered[page]):
            if page == "data_size":
                grid, _, shares = data_size_grid("full", task)
                out.append(data_size_claim(load(grid, "full"), grid.variants, task, shares, "full",
                                           prefix=f"overview_size_{task}"))
                continue
            grid = cws_variants_grid("full", [task]) if page == "cws_variants" else ablation_grid("full", task)
            out += judge_page(grid, load(grid, "full"), "full")
    return out


def overview_frame(judgements: Sequence[Judgement]) -> pd.DataFrame:
    """The overview's claim table: claim, page (an HTML link from the book's root), profile and seeds, Δ [95% CI],
    the sentences-only CI, p, MDE, seeds a side for 80% power, paper Δ, verdict; reduced-profile rows say so."""
    rows = []
    for j in judgements:
        if j.profile is None:
            runs = "not run"
        elif j.profile == "full":
            runs = f"full, {j.seeds()}"
        else:
            runs = f"<b>{j.profile} profile (reduced)</b>, {j.seeds()}"
        rows.append({
            "claim": html.escape(j.claim.text),
            "page": f'<a href="experiments/{j.page}.html">{PAGE_TITLES[j.page]}</a>',
            "runs: profile, seeds (better v worse)": runs, "ours: Δ [95% CI]": j.ours(),
            "CI, sentences only": j.sentences_only(),
            "p": "" if j.result is None else f"{j.result.interval()[2]:.3f}",
            "MDE": "" if j.result is None else f"{j.result.mde:.2f}", "seeds for power": j.power_seeds(),
            "paper Δ": j.paper(),
            "verdict": html.escape(j.verdict),
        })
    return pd.DataFrame(rows)


#: the overview's headline lists: (heading, what puts a claim in it), in reading order
DECIDED = (
    ("Reproduced", "the paper's sign, a 95% CI that excludes 0",
     lambda j: j.category == "reproduced"),
    ("Contradicted", "the opposite sign, a 95% CI that excludes 0",
     lambda j: j.category == "contradicted"),
    ("The paper's size rejected, the direction undecided", "a CI that holds 0 but lies wholly on one side of the "
     "paper's Δ", lambda j: j.category == "inconclusive" and "excludes the paper's" in j.verdict),
)


def decided_html(judgements: Sequence[Judgement]) -> str:
    """The claims the evidence decided, as HTML lists under the `DECIDED` headings: full-profile claims first,
    reduced-profile ones labelled as such; each with Δ [95% CI], the paper's Δ, its seeds and the verdict's note.
    """
    def item(j: Judgement) -> str:
        note = j.verdict[len(j.category):].replace("excludes the paper's Δ", "").strip(" ();")  # the heading says it
        where = "full profile" if j.profile == "full" else f"<b>{j.profile} profile (reduced)</b>"
        return (f"<li>{PAGE_TITLES[j.page]}, {html.escape(j.claim.text)}: Δ {j.ours()}, paper {j.paper()}; "
                f"{where}, {j.seeds()} seeds{f'; {html.escape(note)}' if note else ''}</li>")

    parts = []
    for heading, rule, member in DECIDED:
        chosen = sorted((j for j in judgements if member(j)), key=lambda j: j.profile != "full")
        body = "".join(map(item, chosen)) or "<li>none</li>"
        parts.append(f"<p><b>{heading}</b> ({html.escape(rule)}):</p><ul>{body}</ul>")
    return "".join(parts)


def glue_overview(judgements: Sequence[Judgement], prefix: str = "overview") -> dict[str, int]:
    """Glue `<prefix>_<category>` counts (spaces as underscores), `<prefix>_total`, `<prefix>_profiles`,
    `<prefix>_decided` (`decided_html`) and `<prefix>_table` (HTML: myst-nb pastes HTML, not Markdown, from
    another page); returns the counts."""
    from IPython.display import HTML

    counts = verdict_counts(judgements)
    for category in CATEGORIES:
        glue(f"{prefix}_{category.replace(' ', '_')}", str(counts[category]))
    glue(f"{prefix}_total", str(len(judgements)))
    profiles = sorted({j.profile for j in judgements if j.profile})
    glue(f"{prefix}_profiles", ", ".join(profiles) or "none")
    glue(f"{prefix}_decided", HTML(decided_html(judgements)))
    glue(f"{prefix}_table", HTML(overview_frame(judgements).to_html(index=False, escape=False, border=0)))
    return counts
