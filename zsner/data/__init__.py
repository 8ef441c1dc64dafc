"""Data layer: CoNLL files -> sentences -> tag schemes -> vocabularies -> batches."""
from .conll import Sentence, read_conll, write_conll

__all__ = ["Sentence", "read_conll", "write_conll"]
