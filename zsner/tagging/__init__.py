"""Tag your own text with any trained zsner model: raw text -> ``Document`` with entity ``Span`` offsets.

    import zsner
    tagger = zsner.load("runs/en-es-augmented/seed1/augmented")
    doc = tagger("El Gobierno de España aprobó ayer en Madrid el plan de la Unión Europea.")
    [(span.text, span.label, span.start, span.end, span.score) for span in doc.entities]

Modules, in data-flow order: segment (sentences and tokens with offsets), document (Document / Span / Token),
inputs (zsner tag's readers), load (which model a path holds, once), classic and transformer (the backends),
tagger (the one tagging path), outputs and html (JSONL / CoNLL / page), export (Hugging Face folder), cli.
"""
from .document import Document, Span, Token
from .load import load

__all__ = ["Document", "Span", "Token", "load"]
