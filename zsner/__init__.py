"""zsner: zero-resource cross-lingual named entity recognition.

Data flows top to bottom: files -> sentences (`zsner.data`) -> vocabularies/batches -> encoders (`zsner.nn`)
-> CRF (`zsner.crf`) -> metrics (`zsner.evaluation`) -> reports.
"""
__version__ = "0.1.0"
