"""Unsupervised cross-lingual word mapping (MUSE-style adversarial training + Procrustes/CSLS refinement)."""
