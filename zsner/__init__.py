"""zsner: zero-resource cross-lingual named entity recognition.

Data flows top to bottom: files -> sentences (`zsner.data`) -> vocabularies/batches -> encoders (`zsner.nn`)
-> CRF (`zsner.crf`) -> metrics (`zsner.evaluation`) -> reports.
"""
__version__ = "0.1.0"


def load(path, **options):
    """A ``Tagger`` for any trained zsner model (see ``zsner.tagging.load.load``): ``load(path)("raw text")``."""
    from .tagging.load import load as load_tagger

    return load_tagger(path, **options)
