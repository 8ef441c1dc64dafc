"""One transformer experiment end to end, written as a run folder (same conventions as the classic backend).

``config.json`` (both configs), ``training.log``, ``loss.tsv``, ``loss.png`` / ``f1.png``, ``checkpoints/<phase>.
<criterion>.pt`` (only the tensors that training can change; frozen ones come from the base model folder),
``predictions/<phase>.<criterion>.<lang>.<split>.conll`` (word gold predicted), ``metrics.json`` and
``results.md``. Every file is written atomically. ``run_round_robin`` trains on all languages but one and tests on
the held-out one, for each language in turn.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..atomic import write_json, write_text
from ..config import from_dict, save_configs
from ..data.conll import write_conll
from ..data.tags import tag_set
from ..device import resolve_device, resolved
from ..errors import ZsnerError
from ..nn.tagger import count_parameters
from ..resources import SPLITS, dataset_path
from ..runlog import attach_log, resuming
from ..runs import writing
from ..train import distributed
from ..train.model_io import CHECKPOINT_FILE, read_torch_file
from ..train.trainer import seed_everything
from ..teachers import resolve, student_ids, teacher_checkpoints, teacher_labels
from . import bf16
from .checkpoints import model_checkpoint_problem
from .config import TransformerConfig, TransformerTrainConfig, split_list, validate
from .data import entity_types, label, read_split, read_train_file, read_unlabelled
from .inference import encode, evaluate
from .model import TransformerTagger, build
from .report import results_markdown
from .train import DevSet, FineTuning

log = logging.getLogger("zsner.transformer")
OUTPUTS = ("config.json", "training.log", "checkpoint.pt", "metrics.json", "loss.tsv", "results.md", "loss.png", "f1.png", "checkpoints",
           "predictions")


def run(model_config: TransformerConfig, config: TransformerTrainConfig, out_dir, overwrite: bool = False,
        resume: bool = False) -> dict:
    """Train and evaluate one configuration; returns the metrics also written to ``metrics.json``. ``resume``
    continues the run in ``out_dir`` (same configs) from its last checkpoint."""
    with _writer(out_dir):
        return _checked_run(model_config, config, out_dir, overwrite, resume)


def _writer(out_dir):
    """The run folder's writer lock (zsner/runs.py); under torchrun only the first process writes, and locks."""
    return writing(out_dir) if distributed.is_main() else contextlib.nullcontext()


def _checked_run(model_config: TransformerConfig, config: TransformerTrainConfig, out_dir, overwrite: bool,
                 resume: bool) -> dict:
    validate(model_config, config)
    bf16.check_training(config.cpu_precision, resolve_device(config.device))  # before --out is touched, as below
    cloze = bool({"cl", "pc"} & set(split_list(config.aux)))
    if distributed.world() > 1 and cloze:
        raise ZsnerError("--aux cl and pc draw their masks per batch: run them in one process, not under torchrun")
    init_file = resolve(config.init, "--init") if config.init else None  # a run folder: its src-dev checkpoint
    init = read_checkpoint(init_file) if init_file else None  # a bad --init stops before --out is touched,
    teachers = teacher_checkpoints(config.teacher) if config.teacher else []  # so does a bad --teacher,
    inputs = read_inputs(model_config, config, init["tags"] if init else None)  # likewise every data file,
    torch.set_num_threads(config.threads)
    distributed.start(config.device)  # under torchrun: one process per device (DDP)
    seed_everything(config.seed)
    model, tokens = build(model_config, inputs["tags"], inputs["languages"], cloze=cloze)  # model folder, tokenizer
    if init_file:
        load_into(model, init_file, init)  # and the --init weights: all input is read before anything is written
    out = Path(out_dir)
    stale = not resume and any((out / name).exists() for name in OUTPUTS)
    if resume and not (out / CHECKPOINT_FILE).is_file():
        raise ZsnerError("nothing to resume: no checkpoint (did the run reach its first evaluation?)", out)
    if stale and not overwrite:
        raise ZsnerError("run folder already holds a run; use --overwrite or another --out", out)
    distributed.barrier()  # DDP: every process has looked at the folder before the first one changes it
    if not distributed.is_main():  # only the first process writes the run folder and its log
        return _run(model_config, config, out, inputs, model, tokens, resume, teachers)
    for name in OUTPUTS if stale else ():
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    handler = attach_log(out)
    try:
        return _run(model_config, config, out, inputs, model, tokens, resume, teachers)
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()


def read_inputs(model_config: TransformerConfig, config: TransformerTrainConfig,
                tags: list[str] | None = None) -> dict:
    """Every data split a run reads: labelled source train (or ``--train-file``, labelled target text), unlabelled
    target train (auxiliary tasks or pseudo-labels), source and target dev, target test; plus the tag set (``tags``:
    the --init checkpoint's) and the language list."""
    sources, targets, aux = split_list(config.src), split_list(config.tgt), split_list(config.aux)
    data_dir = config.data_dir or None
    if config.train_file:
        train_sets = {targets[0]: read_train_file(config.train_file, config.train_limit)}
    else:
        train_sets = {lang: read_split(lang, "train", config.train_limit, data_dir) for lang in sources}
    tags = list(tags) if tags else tag_set(set().union(*(entity_types(s) for s in train_sets.values())),
                                           model_config.scheme)
    unlabelled_words = {}
    if aux or config.mode == "augmented":
        unlabelled_words = {lang: read_unlabelled(lang, "train", config.unlabelled_limit, data_dir) for lang in targets}
    dev_of = {lang: read_split(lang, "dev", config.eval_limit, data_dir) for lang in dict.fromkeys(sources + targets)}
    dev = {(role, lang): dev_of[lang] for role, langs in (("src", sources), ("tgt", targets)) for lang in langs}
    tests = {lang: read_split(lang, "test", config.eval_limit, data_dir) for lang in targets}
    languages = list(dict.fromkeys(sources + targets)) if "li" in aux else []
    if "li" in aux and len(languages) < 2:
        raise ZsnerError("--aux li needs at least two different languages among --src and --tgt")
    return {"train_sets": train_sets, "tags": tags, "unlabelled_words": unlabelled_words, "dev": dev,
            "tests": tests, "languages": languages}


def _run(model_config: TransformerConfig, config: TransformerTrainConfig, out: Path, inputs: dict,
         model: TransformerTagger, tokens, resume: bool = False, teachers: list | None = None) -> dict:
    if not resume and distributed.is_main():
        save_configs(out / "config.json", model=model_config, train=config)
    config = resolved(config)  # config.json keeps the requested device ("auto"); the run uses the resolved one
    config = replace(config, device=distributed.local_device(config.device))  # torchrun: cuda:LOCAL_RANK
    targets = split_list(config.tgt)
    tags, dev, tests = inputs["tags"], inputs["dev"], inputs["tests"]
    unlabelled_words = inputs["unlabelled_words"]
    labelled = [label(lang, sentences, tags, model_config.scheme) for lang, sentences in inputs["train_sets"].items()]
    log.info("model %s: %d parameters, %d trainable (freeze %d); tags %s", model_config.model,
             count_parameters(model, trainable_only=False), count_parameters(model), model_config.freeze_layers,
             " ".join(tags))

    def corpus(words, langs):
        return encode(words, tokens, model_config.window, model_config.overlap, langs)

    source_corpus = corpus([w for item in labelled for w in item.words],
                           [item.lang for item in labelled for _ in item.sentences])
    source_corpus.set_labels([ids for item in labelled for ids in item.labels], tags, model_config.scheme)
    unlabelled = None
    if unlabelled_words:
        unlabelled = corpus([w for words in unlabelled_words.values() for w in words],
                            [lang for lang, words in unlabelled_words.items() for _ in words])
    dev_corpora = {}  # a language that is both source and target: one encoded dev set for both roles
    for (_, lang), sentences in dev.items():
        if lang not in dev_corpora:
            dev_corpora[lang] = corpus([s.words for s in sentences], lang)
    dev_sets = [DevSet(lang, role, dev_corpora[lang], [s.tags for s in sentences])
                for (role, lang), sentences in dev.items()]
    log.info("data: %d source sentences (%d windows), %d unlabelled target sentences, dev %s, test %s",
             len(source_corpus), len(source_corpus.windows), len(unlabelled) if unlabelled else 0,
             {f"{role}-{lang}": len(s) for (role, lang), s in dev.items()}, {lang: len(s) for lang, s in tests.items()})
    teacher = _teacher_labels(teachers, unlabelled_words, tags, model_config.scheme, config) if teachers else None
    with bf16.training_precision(config.cpu_precision):  # the teachers above: float32, as cached
        trainer = FineTuning(model, model_config, config, out, source_corpus, unlabelled, dev_sets,
                             teacher[0] if teacher else None)
        if resume:
            with resuming():  # a refused resume leaves training.log as it was
                trainer.resume()
        started = time.perf_counter()
        if not (config.init and config.mode == "augmented") and config.epochs > 0:
            trainer.fit_zero_shot()
        if config.mode == "augmented":
            trainer.fit_pseudo()
        if not trainer.best:  # nothing trained (epochs 0): select the initial model
            trainer.evaluate_initial()
        if not distributed.is_main():  # DDP: the first process evaluates the chosen checkpoints; all get its metrics
            return distributed.broadcast(None)
        final = {lang: {"dev": dev[("tgt", lang)], "test": tests[lang]} for lang in targets}
        metrics = finish(trainer, model_config, config, out, final, corpus)
    metrics["speed"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    if teacher:
        metrics["teacher"] = teacher[1]
    write_json(out / "metrics.json", metrics)
    write_text(out / "results.md", results_markdown(metrics))
    return distributed.broadcast(metrics)


def _teacher_labels(teachers: list[Path], unlabelled_words: dict, tags: list[str], scheme: str,
                    config: TransformerTrainConfig) -> tuple[list[list[int]], dict]:
    """The teachers' fixed pseudo-labels of the unlabelled target text, as ids of this run's ``tags`` (in the order
    of the unlabelled corpus: target language after language), and their record for metrics.json (one target:
    the record; several: a record per language)."""
    labels, records = [], {}
    for lang, words in unlabelled_words.items():
        tagged, records[lang] = teacher_labels(teachers, words, lang, config.cache_dir, config.device,
                                               config.eval_batch_size, config.progress, config.teacher_decode)
        labels += student_ids(tagged, tags, scheme, ",".join(map(str, teachers)))
    return labels, records[next(iter(records))] if len(records) == 1 else records


def finish(trainer: FineTuning, model_config, config, out: Path, final: dict, corpus) -> dict:
    """Evaluate each phase's chosen checkpoints on the target dev and test sets; write predictions."""
    model = trainer.model
    options = dict(batch_size=config.eval_batch_size, device=config.device, amp=config.amp,
                   progress=config.progress)
    encoded = {(lang, split): corpus([s.words for s in sentences], lang)
               for lang, splits in final.items() for split, sentences in splits.items()}
    # the target dev sets used for selection are the final ones (same limit), so their step's scores are reused
    cache: dict = {}
    phases: dict = {}
    test_sentences, test_seconds = 0, 0.0
    for phase, criteria in trainer.best.items():
        phases[phase] = {}
        for criterion, chosen in criteria.items():
            if chosen.step is None:
                continue
            key = (phase, chosen.step)
            if key not in cache:
                model.load_trainable(chosen.state)
                cache[key] = {}
                for (lang, split), data in encoded.items():
                    if split == "dev" and lang in chosen.target_dev:  # scored at that step already: same set
                        cache[key][(lang, split)] = chosen.target_dev[lang]
                        continue
                    gold = [s.tags for s in final[lang][split]]
                    metrics, predicted, seconds = evaluate(model, data, gold, desc=f"{lang} {split}", **options)
                    cache[key][(lang, split)] = (metrics, predicted)
                    if split == "test":
                        test_sentences, test_seconds = test_sentences + len(gold), test_seconds + seconds
            entry = {"step": chosen.step, "epoch": chosen.epoch, "score": chosen.score,
                     "checkpoint": chosen.checkpoint, "dev": {}, "test": {}, "predictions": {}}
            for (lang, split), (metrics, predicted) in cache[key].items():
                name = f"predictions/{phase}.{criterion}.{lang.replace(':', '-')}.{split}.conll"  # wikiann:sw
                write_conll(out / name, final[lang][split], predicted)
                entry[split][lang] = metrics
                entry["predictions"].setdefault(lang, {})[split] = name
            phases[phase][criterion] = entry
            log.info("%s / %s: step %d, %s", phase, criterion, chosen.step,
                     ", ".join(f"{lang} test F1 {m['micro']['f1']}" for lang, m in entry["test"].items()))
    source_sentences = len(trainer.sources)
    speed = trainer.sentences_seen / trainer.train_seconds if trainer.train_seconds else 0.0
    final_phase = phases[list(phases)[-1]]
    first = split_list(config.tgt)[0]
    # the classic backend's summary of each criterion (first target language), for side-by-side tables
    criteria = {criterion: {"step": chosen["step"], "tgt_test_f1": chosen["test"][first]["micro"]["f1"],
                            "tgt_dev_f1": trainer.best[list(phases)[-1]][criterion].scores.get("tgt-dev"),
                            "src_dev_f1": trainer.best[list(phases)[-1]][criterion].scores.get("src-dev"),
                            "tgt_test": chosen["test"][first]}
                for criterion, chosen in final_phase.items()}
    return {
        "backend": "transformer",
        "model": model_config.model,
        "model_name": Path(model_config.model).name,
        "head": model_config.head,
        "freeze_layers": model_config.freeze_layers,
        "mode": config.mode,
        "src": split_list(config.src),
        "tgt": split_list(config.tgt),
        "aux": split_list(config.aux),
        "pseudo_loss": config.pseudo_loss if config.mode == "augmented" or config.train_file else None,
        "train_file": config.train_file or None,
        "seed": config.seed,
        "criteria": criteria,
        "selection": final_phase,
        "phases": phases,
        "steps": trainer.step,
        "stopped_early": trainer.stopped_early,
        "rounds": trainer.pseudo_rounds,
        "parameters": count_parameters(model),
        "parameters_total": count_parameters(model, trainable_only=False),
        "train_seconds": round(trainer.train_seconds, 1),
        "speed": {
            "train_seconds": round(trainer.train_seconds, 1),
            "train_sentences_per_second": round(speed, 2),
            "seconds_per_epoch": round(source_sentences / speed, 1) if speed else None,
            "inference_sentences_per_second": round(test_sentences / test_seconds, 2) if test_seconds else None,
            "threads": config.threads,
            "device": config.device,
            "processes": distributed.world(),
        },
    }


def read_checkpoint(path) -> dict:
    """A transformer checkpoint's archive (tensors and plain data only: loading never runs code)."""
    path = Path(path)
    if not path.is_file():
        raise ZsnerError("no such checkpoint", path)
    archive = read_torch_file(path)
    if not isinstance(archive, dict) or archive.get("format") != "zsner-transformer-1":
        raise ZsnerError("not a zsner transformer checkpoint", path)
    problem = model_checkpoint_problem(archive)
    if problem:
        raise ZsnerError(f"damaged transformer checkpoint: {problem}", path)
    return {**archive, "model_config": asdict(from_dict(TransformerConfig, archive["model_config"]))}


def load_into(model: TransformerTagger, path, archive: dict | None = None) -> dict:
    """Load a checkpoint's tensors (``archive``, when already read) into a model with the same tags (auxiliary
    heads may differ)."""
    archive = archive if archive is not None else read_checkpoint(path)
    if list(archive["tags"]) != model.tags:
        raise ZsnerError(f"checkpoint tags {archive['tags']} differ from this run's {model.tags}", path)
    auxiliary = ("language_head.", "cloze_head.")
    own = {name for name, _ in model.named_parameters()}
    state = {k: v for k, v in archive["state"].items() if not k.startswith(auxiliary) or k in own}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # e.g. size mismatch: another base model or tag set
        raise ZsnerError(f"checkpoint does not fit the model ({str(err).strip().splitlines()[-1].strip()})",
                         path) from None
    bad = [name for name in missing if not name.startswith(("encoder.", *auxiliary))]
    if unexpected or bad:
        raise ZsnerError(f"checkpoint does not fit the model (unexpected {unexpected[:3]}, missing {bad[:3]})", path)
    return archive


def load_checkpoint(path, model_folder: str = "", cached_tokenizer: bool = False, archive: dict | None = None
                    ) -> tuple[TransformerTagger, object, dict]:
    """``(model, PieceTokenizer, archive)`` from a checkpoint; the base model folder is the one it was trained
    from unless ``model_folder`` is given; ``cached_tokenizer`` for inference (``model.load_pretrained``);
    ``archive``: ``read_checkpoint(path)`` when the caller already read it."""
    archive = archive if archive is not None else read_checkpoint(path)
    model_config = TransformerConfig(**archive["model_config"])  # every field (read_checkpoint)
    if model_folder:
        model_config = replace(model_config, model=model_folder)
    if not model_folder and not (Path(model_config.model).expanduser() / "config.json").is_file():
        raise ZsnerError(f"the checkpoint's base model folder {model_config.model!r} is not there (no config.json): "
                         "give it (zsner tag --model-folder PATH)", path)
    try:
        model, tokens = build(model_config, list(archive["tags"]), list(archive["languages"]), bool(archive["cloze"]),
                              cached_tokenizer)
    except ZsnerError as err:  # what the checkpoint asks of its model folder (e.g. more layers to freeze)
        if err.path is not None:
            raise
        raise ZsnerError(f"the checkpoint does not fit its model folder: {err}", path) from None
    load_into(model, path, archive)
    model.eval()
    return model, tokens, archive


def run_round_robin(model_config: TransformerConfig, config: TransformerTrainConfig, langs: list[str], out_dir,
                    overwrite: bool = False) -> dict:
    """Train on all of ``langs`` but one, test on the held-out one, for each; ``summary.json`` / ``summary.md``."""
    if len(langs) < 2:
        raise ZsnerError("--round-robin needs at least two languages")
    for lang in langs:  # each is a source (train, dev) and once the target (test): all found before the first run
        for split in SPLITS:
            dataset_path(lang, split, config.data_dir or None)
    with _writer(out_dir):
        return _round_robin(model_config, config, langs, Path(out_dir), overwrite)


def _round_robin(model_config: TransformerConfig, config: TransformerTrainConfig, langs: list[str], out: Path,
                 overwrite: bool) -> dict:
    summary = {}
    for held_out in langs:
        rest = [lang for lang in langs if lang != held_out]
        held_config = replace(config, src=",".join(rest), tgt=held_out)
        metrics = run(model_config, held_config, out / f"heldout-{held_out}", overwrite)
        summary[held_out] = {criterion: chosen["test"][held_out]["micro"]["f1"]
                             for criterion, chosen in metrics["selection"].items()}
    if not distributed.is_main():
        return summary
    write_json(out / "summary.json", summary)
    lines = ["| held out | trained on | " + " | ".join(f"test F1 ({c})" for c in ("src-dev", "tgt-dev")) + " |",
             "|---|---|---|---|"]
    for held_out, scores in summary.items():
        rest = ",".join(lang for lang in langs if lang != held_out)
        lines.append(f"| {held_out} | {rest} | {scores.get('src-dev', '')} | {scores.get('tgt-dev', '')} |")
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    return summary
