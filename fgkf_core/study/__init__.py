"""The study behind the book: notebook parameters, run grids, the paper's tables and claims, seed summaries,
paired verdicts, the Table 5 split, FGKF's learned fusion weights, figures (and their fonts), glue, provenance, early-stopping evidence, the bfloat16 check, the ner_en gap, the full plan's progress, labels and display
formatting, one module each. Notebooks do
``from fgkf_core import study``.

Every number a page shows is computed here; a page is parameters -> `pages` (grid, records, claims) -> study
calls -> glue. Scores are percentages, as in the paper.
"""
from ..ensure import check_profile, ensure_runs, results_root
from .claims import (
    NER_EN_UNMATCHED, Claim, ablation_claims, absolute_reason, data_size_claims, difference_reason, main_claims,
    paper_delta, split_claims, table4_claims,
)
from .data_size import data_size_claim, data_size_summary, data_size_table, margins
from .effects import effects_table, paired_delta
from .display import fmt_duration, fmt_share, html_table, short_hash
from .figures import data_size_figure, heatmap_figure, kd_weight_figure, plot_data_size, plot_heatmap, plot_kd_weight
from .fonts import cjk_font
from .fusion_weights import (
    fusion_weights_grid, glue_comparisons, hypothesis_reading, kd_weight_curves, trace_frame, traced_records,
    weights_conclusion, weights_summary,
)
from .fusion_weights import comparisons as fusion_comparisons
from .frames import CONFIG_COLUMNS, paper_score, runs_frame, variants_of
from .glue import glue, glue_compare, glue_key, glue_settings
from .grids import (
    ABLATIONS, PAPER_METHOD, Variant, ablation_variants, code_switches, data_size_variants, fidelity_variants,
    formulation_switches, grid, main_grid, main_grid_note, plain, registered_methods, table3_variants,
    table4_variants,
)
from .overview import glue_overview, overview, overview_frame
from .pages import (
    PageGrid, ablation_grid, cws_variants_grid, data_size_grid, full_records, judge_page, main_results_grid,
    page_records, relevance_split_grid,
)
from .labels import metric_label, task_label, task_summary
from .paper import paper_dir, paper_long, paper_reference, paper_rows, paper_table
from .params import (
    SETTINGS, as_list, banner, default_fractions, default_pool, default_seeds, default_tasks, run_seeds, seeds_text,
    settings_text,
)
from .ner_gap import entity_forms, ner_gap_frame, ner_gap_summary, ner_gap_table, scoring_shift, seen_unseen
from .oov import WORD_LISTS, oov_counts, roov_list_reading, roov_rows, roov_table
from .numerics import BF16, FLUSH, NumericsCheck, Switch, numerics_checks, numerics_table
from .numerics import RULE as NUMERICS_RULE
from .plan_progress import plan_progress
from .patience import longest_wait, patience_conclusion, patience_rows, patience_summary
from .provenance import data_files, data_sizes, glue_provenance, provenance
from .relevance_split import (
    MIN_UNITS, NER_UNITS, SplitCounts, SplitMeasure, heatmap_data, load_predictions, relevance_sources,
    relevance_split_frame, relevance_threshold, split_counts, split_units, spread_table, within_sentence_spread,
)
from .splits import DEFAULT_SPLITS, split_mean_range, split_noise, split_variants
from .seed_summary import summary
from .tables import compare, compare_table, fmt_ms
from .verdicts import (
    CATEGORIES, VERDICT_RULE, Judgement, ScoreMeasure, claims_table, glue_judgements, judge, judge_all, pools,
    profile_order, verdict_counts,
)

__all__ = [
    "check_profile", "ensure_runs", "results_root",
    "NER_EN_UNMATCHED", "Claim", "ablation_claims", "absolute_reason", "data_size_claims", "difference_reason",
    "main_claims", "paper_delta", "split_claims", "table4_claims",
    "data_size_claim", "data_size_summary", "data_size_table", "margins",
    "effects_table", "paired_delta",
    "fmt_duration", "fmt_share", "html_table", "short_hash",
    "cjk_font", "data_size_figure", "heatmap_figure", "kd_weight_figure", "plot_data_size", "plot_heatmap",
    "plot_kd_weight",
    "fusion_comparisons", "fusion_weights_grid", "glue_comparisons",
    "hypothesis_reading", "kd_weight_curves", "trace_frame", "traced_records", "weights_conclusion", "weights_summary",
    "metric_label", "task_label", "task_summary",
    "CONFIG_COLUMNS", "paper_score", "runs_frame", "variants_of",
    "glue", "glue_compare", "glue_key", "glue_settings",
    "ABLATIONS", "PAPER_METHOD", "Variant", "ablation_variants", "code_switches", "data_size_variants",
    "fidelity_variants", "formulation_switches", "grid", "main_grid", "main_grid_note", "plain", "registered_methods",
    "table3_variants", "table4_variants",
    "glue_overview", "overview", "overview_frame",
    "PageGrid", "ablation_grid", "cws_variants_grid", "data_size_grid", "full_records", "judge_page",
    "main_results_grid", "page_records", "relevance_split_grid",
    "paper_dir", "paper_long", "paper_reference", "paper_rows", "paper_table",
    "SETTINGS", "as_list", "banner", "default_fractions", "default_pool", "default_seeds", "default_tasks",
    "run_seeds", "seeds_text", "settings_text",
    "entity_forms", "ner_gap_frame", "ner_gap_summary", "ner_gap_table", "scoring_shift", "seen_unseen",
    "BF16", "FLUSH", "NUMERICS_RULE", "NumericsCheck", "Switch", "numerics_checks", "numerics_table",
    "plan_progress",
    "longest_wait", "patience_conclusion", "patience_rows", "patience_summary",
    "data_files", "data_sizes", "glue_provenance", "provenance",
    "MIN_UNITS", "NER_UNITS", "SplitCounts", "SplitMeasure", "heatmap_data", "load_predictions",
    "relevance_sources", "relevance_split_frame", "relevance_threshold", "split_counts", "split_units", "spread_table",
    "within_sentence_spread",
    "DEFAULT_SPLITS", "split_mean_range", "split_noise", "split_variants",
    "summary",
    "compare", "compare_table", "fmt_ms",
    "WORD_LISTS", "oov_counts", "roov_list_reading", "roov_rows", "roov_table",
    "CATEGORIES", "VERDICT_RULE", "Judgement", "ScoreMeasure", "claims_table", "glue_judgements", "judge",
    "judge_all", "pools", "profile_order", "verdict_counts",
]
