"""`zsner map`: learn an unsupervised cross-lingual word mapping into a run folder."""
from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from ..errors import ZsnerError
from ..jsonfile import read_json
from .config import DICO_BUILDS, DIRECTIONS, FALLBACKS, INITS, MappingConfig

# flag -> config field, for the flags that only override a config value
_OVERRIDES = {"max_vocab": "max_vocab", "normalize": "normalize", "direction": "direction", "init": "init",
              "fallback": "fallback", "seed": "seed", "restarts": "restarts", "epochs": "n_epochs",
              "epoch_size": "epoch_size", "batch_size": "batch_size", "dis_hid_dim": "dis_hid_dim",
              "dis_steps": "dis_steps", "refinement_steps": "n_refinement", "dico_build": "dico_build",
              "dico_max_rank": "dico_max_rank", "threads": "threads", "block_size": "block_size",
              "watch_fraction": "watch_fraction", "drift_tolerance": "drift_tolerance",
              "mutual_tolerance": "mutual_tolerance"}


def add_parser(sub):
    parser = sub.add_parser("map", help="learn an unsupervised cross-lingual word mapping (MUSE-style)",
                            description="Map monolingual word vectors of two languages into one space without "
                                        "bilingual signal: adversarial training (or identical strings) + "
                                        "Procrustes/CSLS refinement. Writes config.json, mapping.npy, metrics.json, "
                                        "training.log and src/tgt.mapped.vec into --out.")
    parser.add_argument("--src", help="source language code (vectors found on the data search path)")
    parser.add_argument("--tgt", help="target language code")
    parser.add_argument("--src-emb", help="source vectors file (.vec, .vec.gz, .bin, .kv); overrides --src lookup")
    parser.add_argument("--tgt-emb", help="target vectors file; overrides --tgt lookup")
    parser.add_argument("--eval-dict", help="MUSE dictionary (src tgt per line) for P@k reporting only; "
                                            "'auto' = dictionaries/<src>-<tgt>.5000-6500.txt on the search path")
    parser.add_argument("--out", required=True, help="run folder to write")
    parser.add_argument("--config", help="JSON file with MappingConfig fields (flags override it)")
    parser.add_argument("--data-dir", help="data root searched first")
    parser.add_argument("--direction", choices=DIRECTIONS, help="s2t: map source onto target; t2s: the reverse")
    parser.add_argument("--init", choices=INITS, help="initial mapping: adversarial (default) or identical strings")
    parser.add_argument("--fallback", choices=FALLBACKS,
                        help="with --init adversarial, also refine from identical strings (best criterion wins): "
                             "always (default), on-failure (only when the chance test fails), none")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--restarts", "--seeds", dest="restarts", type=int, help="adversarial restarts (seeds)")
    parser.add_argument("--max-vocab", type=int)
    parser.add_argument("--normalize", help="comma-separated steps among center, renorm (e.g. renorm,center,renorm)")
    parser.add_argument("--epochs", type=int, help="adversarial epochs")
    parser.add_argument("--epoch-size", type=int, help="samples per adversarial epoch")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--dis-hid-dim", type=int, help="discriminator hidden size")
    parser.add_argument("--dis-steps", type=int, help="discriminator steps per mapping step")
    parser.add_argument("--refinement-steps", type=int)
    parser.add_argument("--dico-build", choices=DICO_BUILDS, help="synthetic dictionary: S2T, T2S, union, mutual NN")
    parser.add_argument("--dico-max-rank", type=int)
    parser.add_argument("--anchor-seed", action="store_true",
                        help="keep the identical-strings seed pairs in every refinement step's dictionary")
    parser.add_argument("--watch-fraction", type=float,
                        help="share of identical strings held out on the validation split that bounds refinement from identical strings (default 0.2; 0 = no split)")
    parser.add_argument("--drift-tolerance", type=float,
                        help="points of held-out identical strings' P@1 a refinement step of the adversarial or "
                             "identity chain may lose before its refinement stops (default 1)")
    parser.add_argument("--mutual-tolerance", type=float,
                        help="share (relative) of the held-out frequent words' mutual CSLS neighbours a refinement "
                             "step from identical strings may lose before it stops (default 0.1; 1 = never stops)")
    parser.add_argument("--block-size", type=int, help="rows per block in NN/CSLS search")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default 1; 0 = torch's choice)")
    parser.add_argument("--no-export", action="store_true", help="do not write the mapped .vec files")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines on stderr")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log lines stay)")
    parser.set_defaults(func=run)


def run(args) -> None:
    from ..resources import dictionary_path, embedding_path
    from ..runs import writing
    from .pipeline import learn_mapping

    config = _config(args)
    src_file = _vectors_file(args.src_emb, args.src, "--src", args.data_dir, embedding_path)
    tgt_file = _vectors_file(args.tgt_emb, args.tgt, "--tgt", args.data_dir, embedding_path)
    eval_dict = args.eval_dict
    if eval_dict == "auto":
        if not (args.src and args.tgt):
            raise ZsnerError("--eval-dict auto needs --src and --tgt language codes")
        eval_dict = dictionary_path(args.src, args.tgt, data_dir=args.data_dir)
    elif eval_dict is not None and not Path(eval_dict).is_file():
        raise ZsnerError("no such dictionary file", eval_dict)
    logger, handler = logging.getLogger("zsner.mapping"), None
    if not args.quiet:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    try:
        redirect = logging_redirect_tqdm(loggers=[logger]) if handler else contextlib.nullcontext()  # --quiet: none
        with writing(args.out), redirect:  # one writer per run folder; log lines do not break the progress bars
            result = learn_mapping(src_file, tgt_file, config, eval_dict, args.out, progress=not (args.quiet or args.no_progress))
    finally:
        if handler is not None:
            logger.removeHandler(handler)
    final = result.metrics["final"]
    summary = {"out": str(args.out), "init": final["init"], "criterion": final["criterion"],
               "adversarial_failed": result.metrics.get("adversarial", {}).get("failed")}
    if "csls" in final:
        summary.update({"P@1_nn": final["nn"]["P@1"], "P@1_csls": final["csls"]["P@1"]})
    print(json.dumps(summary))


def _config(args) -> MappingConfig:
    config = MappingConfig()
    if args.config:
        values = read_json(args.config, "mapping config", expect=None)  # its errors name the file already
        try:
            config = MappingConfig.from_dict(values)
        except ZsnerError as err:  # a field of the wrong type or out of range: name the file
            raise ZsnerError(str(err), args.config) from None
    changes = {field: getattr(args, flag) for flag, field in _OVERRIDES.items()}
    if args.no_export:
        changes["export"] = False
    if args.anchor_seed:
        changes["anchor_seed"] = True
    return config.replace(**changes)


def _vectors_file(explicit, lang, flag, data_dir, embedding_path):
    if explicit:
        if not Path(explicit).is_file():
            raise ZsnerError("no such embedding file", explicit)
        return explicit
    if not lang:
        raise ZsnerError(f"give {flag} LANG or {flag}-emb FILE")
    return embedding_path(lang, data_dir)
