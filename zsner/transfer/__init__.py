"""The paper's zero-resource transfer pipeline (Bari et al., AAAI 2020), on top of the generic training stack:
cross-lingual data (mapping + joint vocabulary) -> variants and Algorithm 1 -> selection, report, figures."""
