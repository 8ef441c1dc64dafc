"""Transformer backend: a local pretrained multilingual encoder fine-tuned for zero-shot / pseudo-label transfer.

``align`` (word <-> sub-token windows), ``model`` (encoder + softmax/CRF head, freezing, LI / cloze heads),
``losses`` (CE, reverse-focal), ``auxiliary`` (cloze masking), ``inference`` (corpora, prediction), ``train``
(loop, schedule, selection, pseudo-label rounds), ``run`` (run folder), ``report`` (curves, tables), ``cli``.
"""
