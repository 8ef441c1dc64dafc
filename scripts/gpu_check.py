"""The prepared GPU check (issue 13): one script to run as soon as a GPU machine is lent, < 5 minutes on an H100.

    bash scripts/gpu_check.sh                       # on the GPU machine (installs zsner if needed, --device auto)
    python scripts/gpu_check.py --device cpu --tiny # the dry run on CPU (tests/test_device.py runs it)

Checks, each printed as ``PASS name: ...`` or ``FAIL name: ...`` (exit status 1 if any fails):
  crf          the CRF on the device against the CPU: identical Viterbi paths, log-likelihood within 1e-4 (relative
               to its size), and under autocast (CUDA: bf16/fp16; CPU: bf16) finite and equal to the fp32 value
  classic      one epoch of `zsner train` (char+word BiLSTM-CRF, paper sizes) on the device
  transfer     one Cross-Augmented round of `zsner transfer` (base variant, pseudo-labels, joint steps)
  transformer  `zsner transformer` with AMP and the CRF head, one epoch (e5-small-sized random BERT, or --model)
and throughput in sentences/s. ``--data`` picks the corpora: ``auto`` uses the real en/es data on the search
path (``$ZSNER_DATA``, ``../shared/data``) when it and gensim are there, else a generated language pair
(``tests/synthetic.py``); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

from zsner.config import TaggerConfig, TrainConfig  # noqa: E402
from zsner.crf import CRF  # noqa: E402
from zsner.data.tags import allowed_transitions  # noqa: E402
from zsner.device import autocast, resolve_device, to_device, to_host  # noqa: E402
from zsner.errors import ZsnerError  # noqa: E402

TAGS = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG", "MISC") for p in "BIES"]
SIZES = {  # normal (GPU) / tiny (CPU dry run)
    "crf": ((512, 40, 20), (8, 12, 2)),  # batch, length, timed repeats
    "classic": ((2000, 500), (40, 20)),  # train / eval sentences
    "transfer": ((1000, 200, 100), (30, 15, 4)),  # train / eval sentences, joint steps in the round
    "transformer": ((2000, 300, dict(layers=6, hidden=384, heads=6)), (30, 15, dict(layers=2, hidden=16, heads=2))),
}


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def amp_context(device):
    """The autocast a real run opens: CUDA's (bf16 or fp16); on CPU bf16, to exercise the CRF's fp32 guard."""
    return autocast(device, True) if device.type == "cuda" else torch.autocast("cpu", dtype=torch.bfloat16)


def relative_gap(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float(((value - reference).abs() / reference.abs().clamp_min(1.0)).max())


def sentences_per_second(function, sentences: int, repeats: int, device) -> float:
    function()  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    synchronize(device)
    return sentences * repeats / (time.perf_counter() - started)


def check_crf(device, sizes, **_) -> str:
    batch, length, repeats = sizes
    generator = torch.Generator().manual_seed(0)
    cpu = CRF(len(TAGS), allowed_transitions(TAGS, "iobes"))
    on_device = to_device(copy.deepcopy(cpu), device)
    emissions = torch.randn(batch, length, len(TAGS), generator=generator) * 4
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = torch.arange(length)[None] < lengths[:, None]
    paths = cpu.decode(emissions, mask)
    gold = paths.clamp(min=0)  # valid paths: scores stay far from the IMPOSSIBLE penalty
    scores, valid, tags = to_device((emissions, mask, gold), device)
    same_paths = bool((to_host(on_device.decode(scores, valid)) == paths.numpy()).all())
    reference = cpu.log_likelihood(emissions, gold, mask).detach()
    gap = relative_gap(torch.from_numpy(to_host(on_device.log_likelihood(scores, tags, valid))), reference)
    features = torch.randn(batch, length, 64, generator=generator)
    layer = torch.nn.Linear(64, len(TAGS))
    with amp_context(device):  # emissions made in half precision, as a model under AMP makes them
        half = to_device(layer, device)(to_device(features, device))
        amp_ll = on_device.log_likelihood(half, tags, valid)
    grad = torch.autograd.grad(amp_ll.sum(), half)[0]
    amp_reference = cpu.log_likelihood(torch.from_numpy(to_host(half.float())), gold, mask).detach()
    amp_gap = relative_gap(torch.from_numpy(to_host(amp_ll)), amp_reference)
    finite = bool(torch.isfinite(amp_ll).all() and torch.isfinite(grad).all())
    decode = sentences_per_second(lambda: on_device.decode(scores, valid), batch, repeats, device)

    def train_step():
        on_device(scores.detach().requires_grad_(True), tags, valid).backward()

    train = sentences_per_second(train_step, batch, repeats, device)
    detail = (f"paths {'identical' if same_paths else 'DIFFER'}, log-likelihood gap {gap:.1e}, AMP ({half.dtype}) "
              f"gap {amp_gap:.1e} {'finite' if finite else 'NOT FINITE'}; Viterbi {decode:,.0f} sent/s, "
              f"NLL forward+backward {train:,.0f} sent/s (batch {batch} x {length})")
    assert same_paths and gap <= 1e-4 and amp_gap <= 1e-4 and finite, detail
    return detail


def classic_tagger(tiny: bool, synthetic: bool) -> TaggerConfig:
    """The paper's sizes; tiny ones for the dry run (word vectors: 20-d generated, else 300-d)."""
    if not tiny:
        return TaggerConfig()
    return TaggerConfig(word_dim=20 if synthetic else 300, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16)


def read_metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def finite_losses(loss_tsv: Path) -> list[float]:
    rows = [line.split("\t") for line in loss_tsv.read_text().splitlines()]
    column = rows[0].index("loss")
    losses = [float(row[column]) for row in rows[1:]]
    assert losses and all(math.isfinite(value) for value in losses), f"losses {losses}"
    return losses


def check_classic(device, sizes, data, out: Path, args, synthetic: bool) -> str:
    from zsner.train.loop import train_supervised

    train_n, eval_n = sizes
    train = TrainConfig(lang="en", epochs=1, eval_every=10**9, train_limit=train_n, eval_limit=eval_n,
                        device=args.device, max_vocab=50_000)
    metrics = train_supervised(train, classic_tagger(args.tiny, synthetic), out / "classic", data, progress_bars=False)
    losses = finite_losses(out / "classic" / "loss.tsv")
    saved = json.loads((out / "classic" / "config.json").read_text())["train"]["device"]
    assert metrics["device"] == str(device) and saved == args.device, (metrics["device"], saved)
    return (f"1 epoch on {train_n} sentences, loss {losses[-1]:.3f}, dev F1 {metrics['dev']['micro']['f1']}: "
            f"train {metrics['train_sentences_per_second']:,.0f} sent/s, decode "
            f"{metrics['decode_sentences_per_second']['test']:,.0f} sent/s")


def mapping_folder(data: Path, out: Path, synthetic: bool) -> Path:
    """en->es vectors in one space: the generated pair already shares one; real vectors get a quick
    identical-strings Procrustes mapping (cached in ``out``)."""
    if synthetic:
        folder = out / "mapping"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / "embeddings" / "en.vec", folder / "src.mapped.vec")
        shutil.copy(data / "embeddings" / "es.vec", folder / "tgt.mapped.vec")
        return folder
    from zsner.transfer.inputs import ensure_mapping, resolve_inputs

    overrides = dict(init="identical", fallback="none", n_refinement=1, max_vocab=20_000, threads=0)
    inputs = resolve_inputs("en", "es", TrainConfig(train_limit=10, eval_limit=10), data)
    return ensure_mapping(inputs, "s2t", out / "cache", overrides, progress=False)


def check_transfer(device, sizes, data, out: Path, args, synthetic: bool) -> str:
    from zsner.transfer.pipeline import TransferConfig, run_transfer
    from zsner.transfer.config import AugmentConfig

    train_n, eval_n, steps = sizes
    mapping = mapping_folder(data, out, synthetic)
    config = TransferConfig(src="en", tgt="es", mode="augmented", base="word", mapping_dir=str(mapping),
                            cache_dir=str(out / "cache"), figures=False)
    train = TrainConfig(epochs=1, eval_every=10**9, train_limit=train_n, eval_limit=eval_n, device=args.device)
    tagger = classic_tagger(args.tiny, synthetic)
    started = time.perf_counter()
    run_transfer(config, train, tagger, AugmentConfig(rounds=1, round_steps=steps), out / "transfer", data, bars=False)
    seconds = time.perf_counter() - started
    folder = out / "transfer" / "seed1" / "augmented"
    metrics = read_metrics(folder)
    finite_losses(folder / "loss.tsv")
    assert metrics["device"] == str(device), metrics["device"]
    f1 = metrics["criteria"]["src-dev"]["tgt_test_f1"]
    joint = steps * 2 * train.batch_size / max(metrics["train_seconds"], 1e-9)
    return (f"base epoch + 1 round of {steps} joint steps ({metrics['rounds'][0]['sentences']} pseudo-labelled), "
            f"tgt-test F1 {f1}: joint {joint:,.0f} sent/s, inference {metrics['inference_sentences_per_second']:,.0f} "
            f"sent/s, {seconds:.1f} s in all")


def transformer_model(args, out: Path, data: Path, geometry: dict) -> Path:
    if args.model:
        return Path(args.model)
    from zsner.transformer.data import read_split
    from zsner.transformer.tiny import build_tiny_model

    words = [w for lang in ("en", "es") for s in read_split(lang, "train", 500, str(data)) for w in s.words]
    return build_tiny_model(out / "bert", words, **geometry)


def check_transformer(device, sizes, data, out: Path, args, **_) -> str:
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
    from zsner.transformer.run import run

    train_n, eval_n, geometry = sizes
    folder = transformer_model(args, out, data, geometry)
    model = TransformerConfig(model=str(folder), head="crf", freeze_layers=-1)
    config = TransformerTrainConfig(src="en", tgt="es", data_dir=str(data), epochs=1, train_limit=train_n,
                                    eval_limit=eval_n, batch_size=32, device=args.device, amp=True, progress=False)
    metrics = run(model, config, out / "transformer")
    finite_losses(out / "transformer" / "loss.tsv")
    speed = metrics["speed"]
    assert speed["device"] == str(device), speed["device"]
    name = folder.name if args.model else f"random BERT {geometry}"
    return (f"{name}, CRF head, AMP, 1 epoch on {train_n} sentences: train {speed['train_sentences_per_second']:,.0f} "
            f"sent/s, inference {speed['inference_sentences_per_second'] or 0:,.0f} sent/s")


def corpora(choice: str, out: Path, tiny: bool) -> tuple[Path, bool]:
    """``(data root, generated?)``: real en/es data when asked for or found, else a generated pair."""
    if choice not in ("auto", "synthetic"):
        return Path(choice), False
    if choice == "auto":
        for root in (os.environ.get("ZSNER_DATA"), ROOT.parent / "shared" / "data"):
            if root and (Path(root) / "ner" / "en").is_dir() and importlib.util.find_spec("gensim"):
                return Path(root), False
    from tests.synthetic import write_language

    sizes = (60, 30, 30) if tiny else (2000, 500, 500)
    dim = 20 if tiny else 300
    for lang in ("en", "es"):
        write_language(out / "data", lang, sizes, seed=0, dim=dim)  # one seed: both share one vector space
    return out / "data", True


CHECKS = {"crf": check_crf, "classic": check_classic, "transfer": check_transfer, "transformer": check_transformer}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (cpu = the dry run)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU dry run of the tests)")
    parser.add_argument("--data", default="auto", help="auto | synthetic | a data root with ner/en, ner/es, embeddings")
    parser.add_argument("--model", default="", help="a local Hugging Face encoder folder (default: random BERT)")
    parser.add_argument("--only", default=",".join(CHECKS), help="comma-separated checks to run")
    parser.add_argument("--keep", default="", help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ZsnerError as err:
        parser.error(str(err))  # one line, exit status 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"zsner GPU check: device {device}"
          + (f" ({torch.cuda.get_device_name(device)}, bf16 {torch.cuda.is_bf16_supported()})"
             if device.type == "cuda" else "")
          + f", torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="zsner-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    data, synthetic = corpora(args.data, out, args.tiny)
    print(f"data: {'generated en/es pair' if synthetic else data}", flush=True)
    failed = []
    try:
        for name in [name.strip() for name in args.only.split(",") if name.strip()]:
            started = time.perf_counter()
            try:
                detail = CHECKS[name](device=device, sizes=SIZES[name][args.tiny], data=data, out=out, args=args,
                                      synthetic=synthetic)
                print(f"PASS {name}: {detail} [{time.perf_counter() - started:.1f} s]", flush=True)
            except Exception as err:  # every check runs; the failure is reported with its cause
                failed.append(name)
                print(f"FAIL {name}: {type(err).__name__}: {err} [{time.perf_counter() - started:.1f} s]", flush=True)
                traceback.print_exc(file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
