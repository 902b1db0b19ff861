"""Names a reader sees: the metric and a one-line description of a task, taken from the task itself
(`fgkf_core.tasks`), so that a page's headings, axis labels and prose name what it actually ran."""
from __future__ import annotations

import re

from ..tasks import Task, get_task

#: `Task.metric` -> the name used in prose, tables and axis labels
METRIC_LABELS: dict[str, str] = {"word_f1": "word F1", "entity_f1": "entity F1", "accuracy": "tag accuracy"}


def metric_label(task: str | Task) -> str:
    """The task's headline metric as a reader says it: 'word F1', 'entity F1' or 'tag accuracy'."""
    metric = get_task(task).metric
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def task_summary(task: str | Task) -> str:
    """The first clause of the task's description ('OntoNotes 5.0 (v12) → Ritter 2011 Twitter NER')."""
    first = re.split(r";|\.\s", get_task(task).description, maxsplit=1)[0].strip().rstrip(".")
    return first.replace("->", "→")


def task_label(task: str | Task) -> str:
    """'ner_en (OntoNotes 5.0 (v12) → Ritter 2011 Twitter NER)'."""
    t = get_task(task)
    return f"{t.name} ({task_summary(t)})"
