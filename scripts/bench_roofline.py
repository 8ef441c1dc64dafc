"""Roofline and profile of the classic tagger: FLOPs per sentence from the batch shapes, the FLOP/s a training
step and decoding achieve, and the FLOP/s this CPU reaches with torch.mm on the same matrix shapes.

    python scripts/bench_roofline.py [--threads 1 2] [--batches 150] [--profile LABEL] [--tiny]
Training: the paper's architecture and batch 16 on bench_train's length-bucketed eng.train batches (forward,
backward, clipping, SGD). Decoding: eng.testa with Viterbi, eval batch 256. ``--profile LABEL`` also writes
runs/bench/profile-{train,decode}-LABEL.txt: time per component (module forward/backward from hooks, the
optimizer, the rest = glue and Python) and torch.profiler's operator table. ``--tiny``: synthetic data, seconds.

FLOPs count the matrix products (2·m·k·n each) and the CRF's T×T recursions: LSTM input projections and
recurrences over padded steps (what the kernels run), the dense and score layers, the forward algorithm and
Viterbi. Backward = weight gradients + input gradients where one is needed (not the frozen word embeddings).
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from zsner.config import TaggerConfig, TrainConfig
from zsner.data.batches import bucketed_order, sequential_order
from zsner.nn.tagger import CharEncoder
from zsner.train.evaluate import predict
from zsner.train.model_io import build_tagger
from zsner.train.trainer import clip_gradients

COMPONENTS = ("chars", "word_lstm", "dropout", "dense", "scores", "crf")


def now() -> float:
    """The profile's clock: CPU time of this thread (at 1 thread all work runs on it)."""
    return time.thread_time()


# ------------------------------------------------------------------------------------------- FLOP counting
def lstm_products(name, sequences, steps, inputs, hidden, grad_inputs, backward):
    """Matrix products ``(part, role, m, k, n, count)`` of one BiLSTM (both directions) over padded steps."""
    rows, gates = sequences * steps, 4 * hidden
    products = [(f"{name} input proj", "fwd", rows, inputs, gates, 2),
                (f"{name} recurrence", "fwd", sequences, hidden, gates, 2 * steps)]
    if backward:
        products += [(f"{name} input proj", "dW", inputs, rows, gates, 2),
                     (f"{name} recurrence", "dW", hidden, rows, gates, 2),  # all steps at once
                     (f"{name} recurrence", "dX", sequences, gates, hidden, 2 * steps)]  # dh through time
        if grad_inputs:
            products.append((f"{name} input proj", "dX", rows, gates, grad_inputs, 2))
    return products


def char_calls(lengths: torch.Tensor, backward: bool):
    """``(forms, padded length)`` of each character LSTM call: one in training, CharEncoder's length groups when
    decoding."""
    groups = CharEncoder.groups(len(lengths))
    if backward or groups < 2:
        return [(len(lengths), int(lengths.max()))]
    return [(len(part), int(part.max())) for part in torch.sort(lengths).values.tensor_split(groups)]


def batch_products(config: TaggerConfig, num_tags: int, batch, backward: bool):
    """Every matrix product of one batch's forward (and backward) pass, from its shapes."""
    size, length = batch.words.shape
    tokens, products = size * length, []
    char_out = 0
    if config.use_chars:
        for forms, chars in char_calls(batch.char_lengths, backward):
            products += lstm_products("char", forms, chars, config.char_dim, config.char_hidden, config.char_dim,
                                      backward)
        char_out = 2 * config.char_hidden
    products += lstm_products("word", size, length, config.word_dim + char_out, config.word_hidden,
                              char_out if config.freeze_embeddings else config.word_dim + char_out, backward)
    layers = [("dense", tokens, 2 * config.word_hidden, config.dense_dim), ("scores", tokens, config.dense_dim, num_tags)]
    for name, m, k, n in layers:
        products.append((name, "fwd", m, k, n, 1))
        if backward:
            products += [(name, "dW", k, m, n, 1), (name, "dX", m, n, k, 1)]
    steps = length - 1  # the CRF's forward algorithm (training) or Viterbi (decoding): [B, T] x [T, T] per step
    products.append(("crf", "fwd", size, num_tags, num_tags, steps))
    if backward:
        products += [("crf", "dX", size, num_tags, num_tags, steps), ("crf", "dW", num_tags, size, num_tags, steps)]
    return products


def flops_by_part(products) -> dict:
    parts: dict = defaultdict(float)
    for name, _, m, k, n, count in products:
        parts[name] += 2.0 * m * k * n * count
    return parts


# ------------------------------------------------------------------------------------------- peak on the shapes
def clock(threads: int):
    """CPU time of this process at 1 thread (steady on a loaded machine), wall time otherwise."""
    return time.process_time if threads == 1 else time.perf_counter


def mm_rate(m, k, n, threads, seconds=0.2) -> float:
    """FLOP/s of torch.mm on ``[m, k] x [k, n]`` (float32) at ``threads`` threads."""
    torch.set_num_threads(threads)
    tick = clock(threads)
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    for _ in range(5):
        torch.mm(a, b, out=out)
    calls, start = 0, tick()
    while tick() - start < seconds:
        for _ in range(10):
            torch.mm(a, b, out=out)
        calls += 10
    return 2.0 * m * k * n * calls / (tick() - start)


def representative_shapes(all_products):
    """Per (part, role), the FLOP-weighted mean shape over all batches and the FLOPs."""
    groups: dict = defaultdict(lambda: [0.0, np.zeros(3)])
    for name, role, m, k, n, count in all_products:
        flops = 2.0 * m * k * n * count
        groups[name, role][0] += flops
        groups[name, role][1] += flops * np.array([m, k, n], dtype=float)
    return {key: (total, tuple(int(round(x)) for x in weighted / total)) for key, (total, weighted) in groups.items()}


def roofline(all_products, threads):
    """Rows ``(part, role, shape, FLOPs, torch.mm FLOP/s)`` and the seconds the products would take at those rates."""
    rows, total_seconds = [], 0.0
    for (name, role), (flops, shape) in sorted(representative_shapes(all_products).items()):
        rate = mm_rate(*shape, threads)
        rows.append((name, role, shape, flops, rate))
        total_seconds += flops / rate
    return rows, total_seconds


# ------------------------------------------------------------------------------------------- component timing
class ComponentTimer:
    """Wall time per module, forward (pre/post hooks) and backward (first output-gradient hook to the last
    input-gradient or parameter-accumulation hook). Autograd runs on this thread, so the intervals are exact."""

    def __init__(self, model):
        self.seconds: dict = defaultdict(float)
        self.handles = []
        encoder = model.encoder
        modules = {"chars": encoder.chars, "word_lstm": encoder.word_lstm, "dropout": encoder.dropout,
                   "dense": encoder.dense, "scores": model.scores, "crf": model.crf}
        self.open: dict = {}
        for name, module in modules.items():
            if module is None:
                continue
            self.handles.append(module.register_forward_pre_hook(self._pre(name)))
            self.handles.append(module.register_forward_hook(self._post(name)))
            if name == "dropout":  # used twice, far apart in backward: its backward (a product) stays in "rest"
                continue
            for parameter in module.parameters():
                if parameter.requires_grad:
                    self.handles.append(parameter.register_post_accumulate_grad_hook(self._end(name)))

    def _pre(self, name):
        def hook(module, args):
            for arg in args if name != "dropout" else ():
                if isinstance(arg, torch.Tensor) and arg.requires_grad:
                    arg.register_hook(self._end(name))
            self.open[name] = now()
        return hook

    def _post(self, name):
        def hook(module, args, output):
            self.seconds[name + " fwd"] += now() - self.open.pop(name)
            outputs = output if isinstance(output, tuple) else (output,)
            for tensor in outputs if name != "dropout" else ():
                if isinstance(tensor, torch.Tensor) and tensor.requires_grad:
                    tensor.register_hook(self._start(name))
        return hook

    def _start(self, name):
        def hook(grad):
            self.open.setdefault(name + " bwd", now())
        return hook

    def _end(self, name):
        def hook(_):
            self.open[name + " bwd end"] = now()
        return hook

    def close_backward(self):
        """Book the backward intervals of the step that just ended."""
        for name in COMPONENTS:
            start, end = self.open.pop(name + " bwd", None), self.open.pop(name + " bwd end", None)
            if start is not None and end is not None:
                self.seconds[name + " bwd"] += end - start

    def remove(self):
        for handle in self.handles:
            handle.remove()


def train_step(model, trainable, optimizer, batch, timer=None):
    seconds = timer.seconds if timer else defaultdict(float)
    start = now()
    optimizer.zero_grad(set_to_none=True)
    loss = model.loss(batch)
    loss.backward()
    if timer:
        timer.close_backward()
    middle = now()
    clip_gradients(trainable, 5.0)
    optimizer.step()
    end = now()
    seconds["optimizer (zero_grad, clip, SGD)"] += end - middle
    seconds["step"] += end - start


def component_table(seconds, sentences, title):
    total = seconds.pop("step")
    lines = [f"{title}: {sentences / total:.0f} sentences/s (with hooks), {1e3 * total:.1f} ms in all", "",
             "| component | ms | share |", "|---|---|---|"]
    rest = total
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        rest -= value
        lines.append(f"| {name} | {1e3 * value:.1f} | {100 * value / total:.1f}% |")
    lines.append(f"| rest: embedding, cat, index, autograd engine, Python | {1e3 * rest:.1f} | {100 * rest / total:.1f}% |")
    return "\n".join(lines)


def profile_train(model, trainable, optimizer, batches):
    timer = ComponentTimer(model)
    for batch in batches:
        train_step(model, trainable, optimizer, batch, timer)
    timer.remove()
    table = component_table(timer.seconds, sum(len(b.indices) for b in batches), "training")
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches:
            train_step(model, trainable, optimizer, batch)
    return table + "\n\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40)


def profile_decode(model, batches):
    model.eval()
    seconds: dict = defaultdict(float)
    with torch.no_grad():
        timer = ComponentTimer(model)
        start = now()
        for batch in batches:
            emissions = model.emissions(batch)
            middle = now()
            model.crf.decode(emissions, batch.mask)
            seconds["crf Viterbi"] += now() - middle
        seconds["step"] = now() - start
        timer.remove()
        seconds.update(timer.seconds)
        table = component_table(seconds, sum(len(b.indices) for b in batches), "decoding (batches prebuilt)")
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in batches:
                model.decode(batch)
    model.train()
    return table + "\n\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)


# ------------------------------------------------------------------------------------------- main
def load(tiny: bool, config: TaggerConfig):
    """English CoNLL, or (``tiny``) the tests' generated language with 300-d vectors in a temporary folder."""
    from zsner.train.prepare import prepare_supervised
    data_dir = None
    if tiny:
        import sys
        import tempfile
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from synthetic import write_language
        data_dir = write_language(Path(tempfile.mkdtemp()), dim=config.word_dim)
    data = prepare_supervised(TrainConfig(lang="en"), config, data_dir)
    return data, data.corpora["train"], data.corpora["dev"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=256)
    parser.add_argument("--profile", metavar="LABEL", help="at 1 thread, write runs/bench/profile-{train,decode}-LABEL.txt")
    parser.add_argument("--profile-batches", type=int, default=60)
    parser.add_argument("--tiny", action="store_true", help="synthetic data (a quick check of the script)")
    args = parser.parse_args()
    config = TaggerConfig()
    data, corpus, dev = load(args.tiny, config)
    num_tags = len(data.vocabs.tags.items)
    order = bucketed_order(corpus.lengths, args.batch_size, np.random.default_rng(0))
    train_batches = [corpus.batch(i) for i in (order * (1 + (args.batches + 10) // len(order)))[: args.batches + 10]]
    dev_batches = [dev.batch(i) for i in sequential_order(dev.lengths, args.eval_batch_size)]
    measured = train_batches[10:]
    train_products = [p for b in measured for p in batch_products(config, num_tags, b, backward=True)]
    decode_products = [p for b in dev_batches for p in batch_products(config, num_tags, b, backward=False)]
    train_sentences, dev_sentences = sum(len(b.indices) for b in measured), len(dev)
    train_flops, decode_flops = flops_by_part(train_products), flops_by_part(decode_products)
    print(f"FLOPs per sentence: training step {sum(train_flops.values()) / train_sentences / 1e6:.1f} M "
          f"(forward + backward), decoding {sum(decode_flops.values()) / dev_sentences / 1e6:.1f} M")
    print("| part | train MFLOP/sentence | decode MFLOP/sentence |\n|---|---|---|")
    for part in sorted(set(train_flops) | set(decode_flops)):
        print(f"| {part} | {train_flops[part] / train_sentences / 1e6:.2f} | {decode_flops[part] / dev_sentences / 1e6:.2f} |")

    for threads in args.threads:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = build_tagger(config, data.vocabs)
        model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=0.1)
        model.train()
        tick = clock(threads)
        for batch in train_batches[:10]:
            train_step(model, trainable, optimizer, batch)
        start = tick()
        for batch in measured:
            train_step(model, trainable, optimizer, batch)
        train_seconds = tick() - start
        predict(model, dev, data.vocabs.tags.items, args.eval_batch_size)
        start = tick()
        predict(model, dev, data.vocabs.tags.items, args.eval_batch_size)
        decode_seconds = tick() - start
        train_rows, train_bound = roofline(train_products, threads)
        decode_rows, decode_bound = roofline(decode_products, threads)
        peak = mm_rate(1024, 1024, 1024, threads)
        load_average = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
        seconds = "CPU seconds of this process" if threads == 1 else "wall seconds"
        print(f"\n## {threads} thread(s), load {load_average}, rates per {seconds}; torch.mm 1024^3: {peak / 1e9:.1f} GFLOP/s")
        for label, rows in (("training", train_rows), ("decoding", decode_rows)):
            print(f"\n| {label}: product | role | shape m,k,n (FLOP-weighted mean) | GFLOP | torch.mm GFLOP/s |"
                  "\n|---|---|---|---|---|")
            for name, role, shape, flops, rate in rows:
                print(f"| {name} | {role} | {shape} | {flops / 1e9:.2f} | {rate / 1e9:.1f} |")
        print("\n| | sentences/s | achieved GFLOP/s | matmul-bound sentences/s (products alone at torch.mm speed) |"
              "\n|---|---|---|---|")
        for label, sentences, flops, seconds, bound in (
                ("training", train_sentences, train_flops, train_seconds, train_bound),
                ("decoding", dev_sentences, decode_flops, decode_seconds, decode_bound)):
            total = sum(flops.values())
            print(f"| {label} | {sentences / seconds:.0f} | {total / seconds / 1e9:.1f} | {sentences / bound:.0f} |")
        if args.profile and threads == 1:  # the component clock is this thread's CPU time
            out = Path("runs/bench")
            out.mkdir(parents=True, exist_ok=True)
            count = min(args.profile_batches, len(measured))
            header = f"threads {threads}, load {load_average}, {count} training batches / {len(dev_batches)} dev batches\n\n"
            (out / f"profile-train-{args.profile}-t{threads}.txt").write_text(
                header + profile_train(model, trainable, optimizer, measured[:count]) + "\n")
            (out / f"profile-decode-{args.profile}-t{threads}.txt").write_text(
                header + profile_decode(model, dev_batches) + "\n")
            print(f"profiles: {out}/profile-{{train,decode}}-{args.profile}-t{threads}.txt")


if __name__ == "__main__":
    main()
