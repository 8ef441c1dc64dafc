"""zsner: zero-resource cross-lingual named entity recognition."""
from setuptools import find_packages, setup

setup(
    name="zsner",
    version="0.1.0",
    description="Zero-resource cross-lingual NER (Bari, Joty & Jwalapuram, AAAI 2020) and transformer baselines",
    packages=find_packages(include=["zsner", "zsner.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch==2.13.0",  # pinned: the CPU wheel on disk; a bare `torch` pulls a multi-GB CUDA build
        "numpy>=1.24",
        "scipy>=1.10",
        "gensim>=4.3,<5",
        "fasttext>=0.9.2",
        "seqeval==1.2.2",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "scikit-learn>=1.3",
    ],
    extras_require={
        "transformer": ["transformers>=4.40"],
        "test": ["pytest>=7", "pytorch-crf==0.7.2", "hypothesis>=6.100"],
        "distributed": ["ray>=2.9"],  # `zsner grid` and parallel seeds in `zsner run` (README: grids on Ray)
        # `zsner serve` (README: serve a tagger); httptools and uvloop: uvicorn's fast HTTP parser and event loop
        "serve": ["fastapi>=0.110", "uvicorn>=0.29", "httptools>=0.6", "uvloop>=0.19; sys_platform != 'win32'"],
    },
    entry_points={"console_scripts": ["zsner=zsner.cli:main"]},
)
