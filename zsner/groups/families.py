"""Linguistic families (top level) and genera (WALS) of the 15 WikiAnn languages of the clustering study.

``family``: Afro-Asiatic {ar he}, Indo-European {da de en es fr hi it ru}, Niger-Congo {sw yo}, Japonic {ja},
Koreanic {ko}, Sino-Tibetan {zh}. ``genus`` splits Indo-European into Germanic {da de en}, Romance {es fr it},
Indo-Aryan {hi} and Slavic {ru}, and Niger-Congo into Bantoid {sw} and Defoid {yo}; Semitic {ar he}.
"""
from __future__ import annotations

LINEAGE = {  # code -> (family, genus)
    "ar": ("Afro-Asiatic", "Semitic"), "he": ("Afro-Asiatic", "Semitic"),
    "da": ("Indo-European", "Germanic"), "de": ("Indo-European", "Germanic"), "en": ("Indo-European", "Germanic"),
    "es": ("Indo-European", "Romance"), "fr": ("Indo-European", "Romance"), "it": ("Indo-European", "Romance"),
    "hi": ("Indo-European", "Indo-Aryan"), "ru": ("Indo-European", "Slavic"),
    "sw": ("Niger-Congo", "Bantoid"), "yo": ("Niger-Congo", "Defoid"),
    "ja": ("Japonic", "Japanese"), "ko": ("Koreanic", "Korean"), "zh": ("Sino-Tibetan", "Chinese"),
}
LEVELS = {"family": 0, "genus": 1}


def lineage_groups(langs: list[str], level: str) -> list[list[str]]:
    """The languages grouped by family or genus, groups in order of their first language."""
    groups: dict[str, list[str]] = {}
    for lang in langs:
        groups.setdefault(LINEAGE[lang][LEVELS[level]], []).append(lang)
    return list(groups.values())
