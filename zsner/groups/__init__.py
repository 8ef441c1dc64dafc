"""Grouped multilingual training (`zsner groups`): one transformer model per language group of a grouping
(per language, linguistic family or genus, language clusters, all in one), evaluated per language."""
