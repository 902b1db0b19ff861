"""The study behind the book: notebook parameters, run grids, the paper's tables, statistics, verdicts, the
Table 5 split, figures (and their fonts), glue, provenance, labels and table formatting, one module each.
Notebooks do ``from fgkf_core import study``.

Every number a page shows is computed here; a page is parameters -> `ensure_runs` -> study calls -> glue.
Scores are percentages, as in the paper.
"""
from ..ensure import check_profile, ensure_runs, load_record, results_root
from .data_size import data_size_claim, data_size_summary, data_size_table, margins
from .fonts import cjk_font
from .figures import data_size_figure, heatmap_figure, plot_data_size, plot_heatmap
from .frames import CONFIG_COLUMNS, runs_frame, variant_of
from .glue import glue, glue_claims, glue_compare, glue_key, glue_settings
from .grids import (
    ABLATIONS, PAPER_METHOD, Variant, ablation_variants, code_switches, data_size_variants, fidelity_variants,
    formulation_switches, grid, main_grid, main_grid_note, plain, registered_methods, table3_variants,
    table4_variants,
)
from .labels import metric_label, task_label, task_summary
from .paper import paper_dir, paper_long, paper_reference, paper_rows, paper_table
from .params import (
    SETTINGS, as_list, banner, default_fractions, default_pool, default_seeds, default_tasks, run_seeds, seeds_text,
)
from .provenance import data_files, data_sizes, glue_provenance, provenance
from .relevance_split import (
    heatmap_data, load_predictions, relevance_split_frame, relevance_threshold, spread_table, strong_weak_split,
    within_sentence_spread,
)
from .stats import effect, summary
from .tables import fmt_duration, fmt_share, html_table, short_hash
from .verdicts import (
    VERDICT_RULE, Claim, ablation_claims, claims_table, compare, compare_table, effects_table, fmt_diff, fmt_ms,
    main_claims, split_claims, table4_claims, verdict,
)

__all__ = [
    "check_profile", "ensure_runs", "load_record", "results_root",
    "data_size_claim", "data_size_summary", "data_size_table", "margins",
    "cjk_font", "data_size_figure", "heatmap_figure", "plot_data_size", "plot_heatmap",
    "CONFIG_COLUMNS", "runs_frame", "variant_of",
    "glue", "glue_claims", "glue_compare", "glue_key", "glue_settings",
    "ABLATIONS", "PAPER_METHOD", "Variant", "ablation_variants", "code_switches", "data_size_variants",
    "fidelity_variants", "formulation_switches", "grid", "main_grid", "main_grid_note", "plain", "registered_methods",
    "table3_variants", "table4_variants",
    "metric_label", "task_label", "task_summary",
    "paper_dir", "paper_long", "paper_reference", "paper_rows", "paper_table",
    "SETTINGS", "as_list", "banner", "default_fractions", "default_pool", "default_seeds", "default_tasks",
    "run_seeds", "seeds_text",
    "data_files", "data_sizes", "glue_provenance", "provenance",
    "heatmap_data", "load_predictions", "relevance_split_frame", "relevance_threshold", "spread_table",
    "strong_weak_split", "within_sentence_spread",
    "effect", "summary",
    "fmt_duration", "fmt_share", "html_table", "short_hash",
    "VERDICT_RULE", "Claim", "ablation_claims", "claims_table", "compare", "compare_table", "effects_table",
    "fmt_diff", "fmt_ms", "main_claims", "split_claims", "table4_claims", "verdict",
]
