"""How far the full-profile plan (`study/full.yaml`) has got, for the reproducibility page: per tier, the runs
planned and recorded, their measured wall time and the expected time left. Only committed state is shown
(records), never this machine's checkpoints, so the page reads the same wherever it is built."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..plan_status import tier_progress
from ..identity import PACKAGE_ROOT
from .display import fmt_duration

#: the committed full-profile plan
FULL_PLAN = PACKAGE_ROOT.parent / "study" / "full.yaml"
COLUMNS = ["tier", "planned", "recorded", "wall time recorded", "expected left (one 1-thread CPU worker)"]


def plan_progress(results_dir: str | Path | None = None, data_dir: str | Path | None = None,
                  plan: str | Path = FULL_PLAN) -> pd.DataFrame:
    """One row per tier of `plan`; the estimate for runs left uses the measured wall times of the same task and
    method (else the same method, else all runs), and says how many it had to guess."""
    rows = []
    for t in tier_progress(plan, results_dir, data_dir):
        left = "—" if t.recorded == t.planned else "~" + fmt_duration(t.left_seconds)
        if t.unmeasured:
            left += f" ({t.unmeasured} of {t.planned - t.recorded} not yet measured for their task and method)"
        rows.append({"tier": t.name, "planned": t.planned, "recorded": t.recorded,
                     "wall time recorded": fmt_duration(t.recorded_seconds), "expected left (one 1-thread CPU worker)": left})
    return pd.DataFrame(rows, columns=COLUMNS)
