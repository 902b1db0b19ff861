"""The font Figure 4 draws Chinese tokens with.

Matplotlib's bundled DejaVu Sans has no CJK glyphs, so Chinese tokens would be drawn as empty boxes. The
choice, in order:

1. the Noto Sans CJK font shipped by the pip package ``cvttf-NotoSansCJK-Regular`` (pinned in
   requirements.txt, so CI and every set-up from the repo's own files draw with the same font);
2. a CJK font installed on the system (e.g. Debian's ``fonts-noto-cjk``);
3. otherwise DejaVu Sans, and the figure says that Chinese is shown as boxes and how to install the font.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

#: the pip package that ships a CJK font (its module holds one .otf file)
FONT_PACKAGE = "cvttf_NotoSansCJK_Regular"
#: CJK families looked for among the system fonts, in order of preference
SYSTEM_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans SC", "Source Han Sans SC",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN", "SimHei", "Microsoft YaHei", "PingFang SC",
)
#: matplotlib's bundled font: Latin, Greek, symbols; no CJK
FALLBACK = "DejaVu Sans"


@dataclass(frozen=True)
class FontChoice:
    """A font family for the figure, where it came from and whether it draws Chinese."""

    family: str
    source: str
    cjk: bool

    @property
    def families(self) -> list[str]:
        """The family list for matplotlib: this font, then DejaVu Sans for the glyphs it lacks."""
        return [self.family] if self.family == FALLBACK else [self.family, FALLBACK]


def packaged_font_file() -> Path | None:
    """The font file of `FONT_PACKAGE`, None when the package is not installed."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    files = [p for loc in spec.submodule_search_locations for p in sorted(Path(loc).iterdir())
             if p.suffix.lower() in (".otf", ".ttf", ".ttc")]
    return files[0] if files else None


@functools.cache
def cjk_font() -> FontChoice:
    """The font for Chinese tokens (see the module docstring for the order); registered with matplotlib."""
    from matplotlib import font_manager

    path = packaged_font_file()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        family = font_manager.FontProperties(fname=str(path)).get_name()
        return FontChoice(family, f"pip package {FONT_PACKAGE}", True)
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in SYSTEM_FAMILIES:
        if family in installed:
            return FontChoice(family, "system font", True)
    return FontChoice(FALLBACK, "matplotlib's bundled font (no CJK font found)", False)


def missing_font_note() -> str:
    """What a figure drawn with the fallback font says about its Chinese tokens."""
    return (f"No CJK font found: Chinese tokens are drawn as boxes. Install requirements.txt "
            f"({FONT_PACKAGE.replace('_', '-')}) or a system CJK font (Debian: fonts-noto-cjk).")
