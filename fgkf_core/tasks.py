"""Registry of the paper's six domain-adaptation settings, and custom source/target pairs.

Every split, subsample and mapping below is deterministic (fixed ``SPLIT_SEED``, independent
of the run seed), so all runs of a task see the same data.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .data import DataFormatError, Sentence, nested_fraction, read_conll, split_by_sizes, tag_checker

SPLIT_SEED = 2019
SCHEMES = {"bmes": ("word_f1", "char_bigram"), "bio": ("entity_f1", "word"), "tags": ("accuracy", "word")}
KINDS = {"bmes": "cws", "bio": "ner", "tags": "pos"}


@dataclass(frozen=True)
class Task:
    """A source -> target setting: dataset folders (relative to the data root), scheme and metric."""

    name: str
    source: str
    target: str
    scheme: str
    max_len: int
    description: str
    comparable: bool = True
    target_fraction: float | None = None  # seeded subsample of the target training set
    unsplit_sizes: tuple[int, int, int] | None = None  # train/dev/test sizes for an all.tsv target
    source_tag_map: tuple[tuple[str, str], ...] = ()  # source tag -> target spelling of the same tag
    paper_key: str | None = None  # column prefix in the paper's CSV tables
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def metric(self) -> str:
        return SCHEMES[self.scheme][0]

    @property
    def features(self) -> str:
        return SCHEMES[self.scheme][1]

    @property
    def kind(self) -> str:
        """cws | pos | ner: selects per-kind defaults (e.g. the authors' learning rate)."""
        return KINDS[self.scheme]


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "cws_zx", "ctb6_cws", "zhuxian_cws", "bmes", 100,
            "CTB6 -> Zhuxian word segmentation (BMES); word F1 and OOV recall.",
            paper_key="cws_zx",
            notes=("CTB6 copy uses an undocumented split (24,416 train sentences), not Yang & Xue 2012.",),
        ),
        Task(
            "cws_weibo", "ctb6_cws", "weibo_cws_nlpcc2016", "bmes", 100,
            "CTB6 -> NLPCC-2016 Weibo segmentation; target train = seeded 5% subsample "
            "(1,007 of 20,135 sentences, as the authors' train_1000); gold dev and test as given.",
            target_fraction=0.05, paper_key="cws_weibo",
        ),
        Task(
            "pos_zh", "zhuxian_pos", "weibo_pos_wtb_silver", "tags", 60,
            "SUBSTITUTE for CTB6 POS -> Weibo POS (neither public): Zhuxian gold CTB-tagged POS -> "
            "Weibo Treebank with automatic (silver) CTB-style tags. Same CTB tag set on both sides.",
            comparable=False, paper_key="pos_zh",
            notes=("Not comparable to the paper: different source domain (novel) and silver target tags.",),
        ),
        Task(
            "pos_en", "ptb_wsj_pos_ontonotes", "twitter_pos_ritter2011", "tags", 60,
            "PTB WSJ (sections 00-18 inside OntoNotes) -> Ritter 2011 Twitter POS, T-POS split; "
            "accuracy over the target tag set. PTB brackets -LRB-/-RRB- are renamed to the Twitter "
            "spelling ( and ).",
            paper_key="pos_en", source_tag_map=(("-LRB-", "("), ("-RRB-", ")")),
        ),
        Task(
            "ner_zh", "msra_ner", "weibo_ner_2015orig", "bio", 100,
            "MSRA -> WeiboNER (original 2015 annotations, PER/LOC/ORG named mentions). MSRA has no dev "
            "split; none is needed (models are selected on the target dev set, as the authors' code).",
            paper_key="ner_zh",
        ),
        Task(
            "ner_zh_revised", "msra_ner", "weibo_ner", "bio", 100,
            "As ner_zh with the revised WeiboNER annotations (He & Sun 2016).",
            paper_key="ner_zh", notes=("Paper cites the 2015 annotations; this variant is for comparison.",),
        ),
        Task(
            "ner_en", "ontonotes5_en_ner", "twitter_ner_ritter2011", "bio", 100,
            "OntoNotes 5.0 (v12) -> Ritter 2011 Twitter NER; the unsplit target is shuffled with "
            "seed 2019 into 1,900/240/254 tweets (the split sizes of Lin & Lu 2018).",
            unsplit_sizes=(1900, 240, 254), paper_key="ner_en",
        ),
    ]
}


def custom_task(source_dir: str | Path, target_dir: str | Path, scheme: str, max_len: int = 100) -> Task:
    """A task from any two folders in the uniform format; no registry entry needed."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; valid: {sorted(SCHEMES)}")
    src, tgt = Path(source_dir).resolve(), Path(target_dir).resolve()
    return Task(
        f"custom:{src.name}->{tgt.name}", str(src), str(tgt), scheme, max_len,
        f"custom pair {src} -> {tgt} ({scheme})", comparable=False, unsplit_sizes=None,
    )


def get_task(name: str | Task) -> Task:
    """Look a task up by name; unknown names list the valid ones."""
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)} (or a custom pair)")
    return TASKS[name]


def data_root(data_dir: str | Path | None = None, optional: bool = False) -> Path | None:
    """The data root: the explicit argument, else $FGKF_DATA; there is no built-in default."""
    root = data_dir or os.environ.get("FGKF_DATA")
    if not root:
        if optional:
            return None
        raise ValueError("no data root: pass data_dir=... / --data-dir or set FGKF_DATA to the folder of datasets")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a directory")
    return root


@dataclass
class TaskData:
    """The five splits a run needs, plus the files they came from (for the record)."""

    task: Task
    source_train: list[Sentence]
    target_train: list[Sentence]
    target_dev: list[Sentence]
    target_test: list[Sentence]
    files: dict[str, str]  # relative path -> sha256

    @property
    def tag_set(self) -> list[str]:
        """Union of source and target tags, sorted (O first for BIO), so both models share one label space."""
        tags = {t for split in (self.source_train, self.target_train) for s in split for t in s.tags}
        tags |= {t for split in (self.target_dev, self.target_test) for s in split for t in s.tags}
        return sorted(tags, key=lambda t: (t != "O", t))

    @property
    def target_tags(self) -> set[str]:
        return {t for split in (self.target_train, self.target_dev, self.target_test) for s in split for t in s.tags}

    def limited(self, source: int | None, target: int | None, evaluation: int | None) -> "TaskData":
        """Seeded prefix slices (for reduced profiles); None keeps a split whole."""
        cut = lambda xs, n: xs if n is None else xs[:n]  # noqa: E731 - splits are already shuffled
        return replace(
            self, source_train=cut(self.source_train, source), target_train=cut(self.target_train, target),
            target_dev=cut(self.target_dev, evaluation), target_test=cut(self.target_test, evaluation),
        )


_HASHES: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """Content hash of a data file, cached per process on (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _HASHES[key]


def _split_files(folder: Path, role: str) -> list[Path]:
    """The files a task reads from a dataset folder: source train (or all); target all, or train/dev/test."""
    if role == "source" or not (folder / "all.tsv").exists():
        names = ["train", "all"] if role == "source" else ["train", "dev", "test"]
    else:
        names = ["all"]
    found = [folder / f"{n}.tsv" for n in names if (folder / f"{n}.tsv").exists()]
    return found[:1] if role == "source" else found


def data_fingerprint(task: str | Task, data_dir: str | Path | None = None) -> dict[str, str]:
    """Relative path -> sha256 of every data file the task reads (part of a run's identity)."""
    task = get_task(task)
    custom = Path(task.source).is_absolute() and Path(task.target).is_absolute()
    root = data_root(data_dir, optional=custom) or Path("/")
    out = {}
    for rel, role in ((task.source, "source"), (task.target, "target")):
        for path in _split_files(_folder(root, rel), role):
            key = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            out[key] = _sha256(path)
    return out


def _folder(root: Path, rel: str) -> Path:
    folder = Path(rel) if Path(rel).is_absolute() else root / rel
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} is missing; run `python -m fgkf_core data check`")
    return folder


def load_task(
    task: str | Task, data_dir: str | Path | None = None, target_fraction: float | None = None,
    target_pool: float | None = None, split_seed: int = SPLIT_SEED,
) -> TaskData:
    """Read and split a task's data.

    `target_pool` replaces the task's seeded target subsample share; `target_fraction` then takes a nested
    seeded share of that pool (Figure 5: pool 0.1, fractions 0.2 .. 1.0, each a subset of the next).
    `split_seed` shuffles an unsplit target (all.tsv) before it is cut into train/dev/test (ner_en); it is
    an error for a target that comes split.
    """
    task = get_task(task)
    custom = Path(task.source).is_absolute() and Path(task.target).is_absolute()
    root = data_root(data_dir, optional=custom) or Path("/")
    files: dict[str, str] = {}
    check = tag_checker(task.scheme)

    def read(folder: Path, split: str) -> list[Sentence] | None:
        path = folder / f"{split}.tsv"
        if not path.exists():
            return None
        key = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        files[key] = _sha256(path)
        return read_conll(path, check)

    src, tgt = _folder(root, task.source), _folder(root, task.target)
    source_train = read(src, "train") or read(src, "all")
    if source_train is None:
        raise DataFormatError(src, None, "no train.tsv or all.tsv")
    source_train = split_by_sizes(source_train, [-1], SPLIT_SEED)[0]  # shuffled once, so prefixes are random
    if task.source_tag_map:
        rename = dict(task.source_tag_map)
        source_train = [Sentence(s.tokens, tuple(rename.get(t, t) for t in s.tags)) for s in source_train]

    target_all = read(tgt, "all")
    if target_all is not None:
        sizes = task.unsplit_sizes or _default_sizes(len(target_all))
        train, dev, test = split_by_sizes(target_all, [sizes[0], sizes[1], sizes[2]], split_seed)
    else:
        if split_seed != SPLIT_SEED:
            raise ValueError(f"split_seed={split_seed}: the target {tgt} comes split (train/dev/test files); "
                             "only an unsplit target (all.tsv) can be re-split")
        train, dev, test = read(tgt, "train"), read(tgt, "dev"), read(tgt, "test")
        if train is None or test is None:
            raise DataFormatError(tgt, None, "target needs train.tsv and test.tsv (or a single all.tsv)")
        if dev is None:
            n_dev = max(1, len(train) // 10)
            dev, train = split_by_sizes(train, [n_dev, -1], SPLIT_SEED)
        train = split_by_sizes(train, [-1], SPLIT_SEED)[0]
    pool = target_pool if target_pool is not None else task.target_fraction
    if pool is not None or target_fraction is not None:
        train = nested_fraction(train, pool or 1.0, target_fraction or 1.0, SPLIT_SEED)
    return TaskData(task, source_train, train, dev, test, files)


def _default_sizes(n: int) -> tuple[int, int, int]:
    """80/10/10 for an unsplit custom target."""
    n_dev = n_test = max(1, n // 10)
    return n - n_dev - n_test, n_dev, n_test

