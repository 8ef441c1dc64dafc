"""Static word vectors read out of a multilingual encoder (`zsner vectors`): words -> encoder states at one layer
-> unit/centre/unit vectors that the classic backend loads like any other vectors file."""
