"""Uniform TSV I/O, vocabularies, feature encoding and length-bucketed batches.

The on-disk format is CoNLL-like: one ``token<TAB>tag`` per line, a blank line after
every sentence, UTF-8 (a BOM and CRLF line ends are tolerated).
"""
from __future__ import annotations

import gzip
import math
import os
import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch

PAD, UNK, BOUNDARY = "<pad>", "<unk>", "</s>"
_UMASK = os.umask(0o022)  # read once at import (os.umask can only be read by setting it) and put straight back
os.umask(_UMASK)


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file, the line and the problem."""

    def __init__(self, path: Path | str, line: int | None, problem: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


@dataclass(frozen=True)
class Sentence:
    """One labelled sentence: parallel tuples of tokens and tags."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tokens)


def tag_checker(scheme: str) -> Callable[[str], str | None]:
    """For a tag scheme, a function returning what is wrong with a tag (None when valid).

    bmes: B, M, E or S; bio: O or B-TYPE / I-TYPE; tags: any non-empty tag (POS tag sets are open).
    """
    if scheme == "bmes":
        return lambda t: None if t in ("B", "M", "E", "S") else f"tag {t!r} is not one of B, M, E, S (scheme bmes)"
    if scheme == "bio":
        def bio(t: str) -> str | None:
            if t == "O" or (len(t) > 2 and t[:2] in ("B-", "I-")):
                return None
            return f"tag {t!r} is not O, B-TYPE or I-TYPE (scheme bio)"
        return bio
    if scheme == "tags":
        return lambda t: None
    raise ValueError(f"unknown scheme {scheme!r}; valid: bmes, bio, tags")


def read_conll(path: Path | str, check_tag: Callable[[str], str | None] | None = None) -> list[Sentence]:
    """Read a ``token<TAB>tag`` file; raise DataFormatError on any malformed line or an empty file.

    `check_tag` (see `tag_checker`) rejects tags outside the task's scheme, naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataFormatError(path, line, f"not valid UTF-8 ({err.reason})") from None
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            if tokens:
                sentences.append(Sentence(tuple(tokens), tuple(tags)))
                tokens, tags = [], []
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataFormatError(
                path, lineno, f"expected 'token<TAB>tag' (exactly one tab), found {len(parts) - 1} tabs in {line!r}"
            )
        token, tag = parts
        tag = tag.strip()
        if not token or not tag:
            raise DataFormatError(path, lineno, f"empty {'token' if not token else 'tag'} in {line!r}")
        problem = check_tag(tag) if check_tag is not None else None
        if problem:
            raise DataFormatError(path, lineno, problem)
        tokens.append(token)
        tags.append(tag)
    if tokens:  # tolerate a missing final blank line
        sentences.append(Sentence(tuple(tokens), tuple(tags)))
    if not sentences:
        raise DataFormatError(path, None, "file holds no sentences")
    return sentences


def write_conll(path: Path | str, sentences: Iterable[Sentence]) -> None:
    """Write sentences in the uniform format, atomically (temp file + rename)."""
    body = "".join("".join(f"{t}\t{g}\n" for t, g in zip(s.tokens, s.tags)) + "\n" for s in sentences)
    atomic_write_text(Path(path), body)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path so that readers see either the old or the whole new file; a '.gz' path is gzipped with
    a zero timestamp, so the same text always gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # the mode open() would give, not mkstemp's owner-only 0600
        with os.fdopen(fd, "wb") as fh:
            if path.suffix == ".gz":
                with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
                    gz.write(text.encode("utf-8"))
            else:
                fh.write(text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_text_file(path: Path) -> str:
    """A text file as `atomic_write_text` wrote it (gunzipped where its name ends in '.gz')."""
    data = Path(path).read_bytes()
    return (gzip.decompress(data) if Path(path).suffix == ".gz" else data).decode("utf-8")


# ----------------------------------------------------------------------------- splits


def shuffled(items: Sequence, seed: int) -> list:
    """A seeded permutation of items (independent of global RNG state)."""
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


def split_by_sizes(items: Sequence, sizes: Sequence[int], seed: int) -> list[list]:
    """Seeded shuffle, then consecutive chunks of the given sizes (the last may take the rest if -1)."""
    perm = shuffled(items, seed)
    out, start = [], 0
    for size in sizes:
        end = len(perm) if size < 0 else start + size
        if end > len(perm):
            raise ValueError(f"cannot take {size} items at offset {start}: only {len(perm)} available")
        out.append(perm[start:end])
        start = end
    return out


def nested_fraction(items: Sequence, pool_fraction: float, fraction: float, seed: int) -> list:
    """First `fraction` of a seeded `pool_fraction` pool; smaller fractions are subsets of larger ones."""
    if not (0 < pool_fraction <= 1 and 0 < fraction <= 1):
        raise ValueError(f"fractions must lie in (0, 1], got pool={pool_fraction}, fraction={fraction}")
    perm = shuffled(items, seed)
    pool = perm[: max(1, round(pool_fraction * len(perm)))]
    return pool[: max(1, math.ceil(fraction * len(pool)))]


# ----------------------------------------------------------------------------- vocabulary


class Vocab:
    """Token <-> id map with PAD=0 and UNK=1, built from training data with a minimum count."""

    def __init__(self, tokens: Iterable[str] = ()):
        self.itos: list[str] = [PAD, UNK]
        self.stoi: dict[str, int] = {PAD: 0, UNK: 1}
        for tok in tokens:
            self.add(tok)

    @classmethod
    def build(cls, counts: Counter, min_count: int = 1) -> "Vocab":
        """Vocabulary of tokens seen at least min_count times, in a deterministic order."""
        return cls(tok for tok, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count)

    def add(self, tok: str) -> int:
        if tok not in self.stoi:
            self.stoi[tok] = len(self.itos)
            self.itos.append(tok)
        return self.stoi[tok]

    def __len__(self) -> int:
        return len(self.itos)

    def __getitem__(self, tok: str) -> int:
        return self.stoi.get(tok, 1)

    def __contains__(self, tok: str) -> bool:
        return tok in self.stoi


def char_bigram_features(chars: Sequence[str]) -> list[tuple[str, str, str, str, str]]:
    """Per character: (prev char, prev bigram, char, next bigram, next char), as the authors' CWS code."""
    padded = [BOUNDARY, *chars, BOUNDARY]
    return [
        (padded[k], padded[k] + padded[k + 1], padded[k + 1], padded[k + 1] + padded[k + 2], padded[k + 2])
        for k in range(len(chars))
    ]


@dataclass
class Encoder:
    """Turns sentences into id tensors: one word id per token, or 5 char/bigram ids per character (CWS)."""

    vocab: Vocab
    tags: Vocab
    features: str  # "word" or "char_bigram"

    @classmethod
    def fit(
        cls, sentences: Iterable[Sentence], tags: Iterable[str], features: str, min_count: int = 1, bigram_min_count: int = 4
    ) -> "Encoder":
        """Build the token vocabulary from training sentences; CWS bigrams need >= bigram_min_count occurrences."""
        if features not in ("word", "char_bigram"):
            raise ValueError(f"unknown features {features!r}; valid: 'word', 'char_bigram'")
        unigrams: Counter = Counter()
        bigrams: Counter = Counter()
        for s in sentences:
            unigrams.update(s.tokens)
            if features == "char_bigram":  # every bigram occurrence once (each inner one is both a next and a prev)
                padded = [BOUNDARY, *s.tokens, BOUNDARY]
                bigrams.update(padded[k] + padded[k + 1] for k in range(len(padded) - 1))
        vocab = Vocab.build(unigrams, min_count)
        vocab.add(BOUNDARY)
        if features == "char_bigram":
            for tok in Vocab.build(bigrams, bigram_min_count).itos[2:]:
                vocab.add(tok)
        tag_vocab = Vocab()
        tag_vocab.itos, tag_vocab.stoi = list(tags), {t: i for i, t in enumerate(tags)}
        return cls(vocab, tag_vocab, features)

    def ids(self, s: Sentence) -> torch.Tensor:
        """Token ids: [n] for words, [n, 5] for CWS characters."""
        if self.features == "word":
            return torch.tensor([self.vocab[t] for t in s.tokens], dtype=torch.long)  # [n]
        return torch.tensor(
            [[self.vocab[x] for x in f] for f in char_bigram_features(s.tokens)], dtype=torch.long
        )  # [n, 5]

    def tag_ids(self, s: Sentence) -> torch.Tensor:
        unknown = [t for t in s.tags if t not in self.tags.stoi]
        if unknown:
            raise ValueError(f"tags {sorted(set(unknown))} are not in the label set {self.tags.itos}")
        return torch.tensor([self.tags.stoi[t] for t in s.tags], dtype=torch.long)  # [n]


# ----------------------------------------------------------------------------- batches


@dataclass
class Batch:
    """A padded batch. `index` gives each row's position in its dataset (keys cached soft targets)."""

    ids: torch.Tensor  # [B, T] or [B, T, 5]
    tags: torch.Tensor  # [B, T]
    mask: torch.Tensor  # [B, T] bool, a prefix mask
    index: torch.Tensor  # [B]

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.ids.to(device), self.tags.to(device), self.mask.to(device), self.index.to(device))

    @property
    def size(self) -> int:
        return self.ids.shape[0]


class EncodedSet:
    """A dataset held as id tensors, with the sentences it came from."""

    def __init__(self, sentences: Sequence[Sentence], encoder: Encoder, max_len: int | None = None):
        if not sentences:
            raise ValueError("cannot encode an empty dataset")
        self.sentences = list(sentences)
        cut = (lambda t: t[:max_len]) if max_len else (lambda t: t)
        self.ids = [cut(encoder.ids(s)) for s in self.sentences]
        self.tags = [cut(encoder.tag_ids(s)) for s in self.sentences]

    def __len__(self) -> int:
        return len(self.ids)

    def collate(self, rows: Sequence[int]) -> Batch:
        """Right-pad the given rows to their maximum length."""
        lengths = torch.tensor([len(self.ids[i]) for i in rows])  # [B]
        T = int(lengths.max())
        first = self.ids[rows[0]]
        ids = torch.zeros((len(rows), T, *first.shape[1:]), dtype=torch.long)  # [B, T(, 5)]
        tags = torch.zeros((len(rows), T), dtype=torch.long)  # [B, T]
        for r, i in enumerate(rows):
            n = len(self.ids[i])
            ids[r, :n] = self.ids[i]
            tags[r, :n] = self.tags[i]
        mask = torch.arange(T)[None, :] < lengths[:, None]  # [B, T]
        return Batch(ids, tags, mask, torch.tensor(rows, dtype=torch.long))

    def batch_rows(self, batch_size: int, rng: random.Random | None = None, bucket: int = 50) -> list[list[int]]:
        """Row groups of length-bucketed batches: sort within windows of `bucket` batches; shuffled when rng is given."""
        order = list(range(len(self)))
        if rng is not None:
            rng.shuffle(order)
        window = batch_size * bucket
        groups: list[list[int]] = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: len(self.ids[i]))
            groups.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
        if rng is not None:
            rng.shuffle(groups)
        return groups

    def n_batches(self, batch_size: int) -> int:
        return len(self.batch_rows(batch_size))

    def batches(self, batch_size: int, rng: random.Random | None = None) -> Iterator[Batch]:
        """Collated batches in `batch_rows` order."""
        for rows in self.batch_rows(batch_size, rng):
            yield self.collate(rows)
