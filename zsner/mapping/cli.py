"""`zsner map`: argument parsing for the cross-lingual mapping (filled in by the mapping feature)."""


def add_parser(sub):
    parser = sub.add_parser("map", help="learn an unsupervised cross-lingual word mapping")
    parser.set_defaults(func=lambda args: (_ for _ in ()).throw(NotImplementedError("map")))
