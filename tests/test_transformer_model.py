"""Transformer model: freezing, losses (CE, reverse-focal), auxiliary tasks, CRF head, checkpoints, schedule."""
from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

from zsner.data.tags import is_valid, tag_set
from zsner.transformer.align import IGNORE
from zsner.transformer.auxiliary import entity_words, predictive_cloze, random_cloze
from zsner.transformer.config import TransformerConfig
from zsner.transformer.data import label, read_split
from zsner.transformer.inference import encode, predict_ids
from zsner.transformer.losses import token_loss, weighted_nll
from zsner.transformer.model import build, encoder_parts
from zsner.transformer.tiny import build_tiny_model
from zsner.transformer.train import lr_factor, make_optimizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
TAGS = tag_set(["LOC", "MISC", "ORG", "PER"], "iob2")


@pytest.fixture(scope="module")
def english():
    return read_split("en", "train", 40)


@pytest.fixture(scope="module")
def folder(english, tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny"), [w for s in english for w in s.words], layers=4))


def make(folder, **options):
    torch.manual_seed(0)
    return build(TransformerConfig(model=folder, window=32, overlap=4, **options), TAGS, ["en", "es"], cloze=True)


def corpus_of(tokens, sentences, lang="en"):
    labelled = label(lang, sentences, TAGS, "iob2")
    return encode(labelled.words, tokens, 32, 4, lang).set_labels(labelled.labels, TAGS, "iob2")


@pytest.mark.parametrize("layers", [-1, 0, 2])
def test_freezing_no_gradient_and_unchanged_weights(folder, english, layers):
    model, tokens = make(folder, freeze_layers=layers)
    embeddings, stack = encoder_parts(model.encoder)
    frozen_modules = ([embeddings] if layers >= 0 else []) + stack[:max(layers, 0)]
    frozen = {id(p) for module in frozen_modules for p in module.parameters()}
    assert all(not p.requires_grad for module in frozen_modules for p in module.parameters())
    assert all(p.requires_grad for p in model.parameters() if id(p) not in frozen)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = make_optimizer(model, 1e-2, weight_decay=0.1)  # decay would move any parameter it holds
    corpus = corpus_of(tokens, english[:8])
    model.train()
    loss = model.ner_loss(corpus.batch(range(len(corpus.windows))))
    loss.backward()
    optimizer.step()
    for name, parameter in model.named_parameters():
        if id(parameter) in frozen:
            assert parameter.grad is None, name
            assert torch.equal(parameter, before[name]), name
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    top = [name for name, p in model.named_parameters() if any(p is q for q in stack[-1].parameters())]
    assert set(top) <= changed and "classifier.weight" in changed  # the unfrozen part did train
    if layers == -1:
        assert "encoder.embeddings.word_embeddings.weight" in changed


def test_freezing_too_many_layers_is_a_user_error(folder):
    from zsner.errors import ZsnerError

    with pytest.raises(ZsnerError):
        make(folder, freeze_layers=5)


def test_reverse_focal_equals_formula_and_ce_at_gamma_zero():
    torch.manual_seed(1)
    logits = torch.randn(3, 5, 7)
    labels = torch.randint(0, 7, (3, 5))
    labels[0, 3:] = IGNORE
    labels[2, 4] = IGNORE
    expected, count = 0.0, 0
    for b in range(3):
        for t in range(5):
            if labels[b, t] == IGNORE:
                continue
            row = logits[b, t].tolist()
            p = math.exp(row[labels[b, t]]) / sum(math.exp(v) for v in row)
            expected += -((1 + p) ** 4) * math.log(p)
            count += 1
    assert token_loss(logits, labels, "reverse-focal", 4.0).item() == pytest.approx(expected / count, rel=1e-5)
    ce = F.cross_entropy(logits.reshape(-1, 7), labels.reshape(-1), ignore_index=IGNORE)
    assert token_loss(logits, labels, "reverse-focal", 0.0).item() == pytest.approx(ce.item(), rel=1e-6)
    assert token_loss(logits, labels, "ce").item() == pytest.approx(ce.item(), rel=1e-6)
    assert token_loss(logits, labels, "reverse-focal", 4.0).item() > ce.item() * 1.5  # weights are >= 1
    # relative to CE, a confident token's gradient weighs more than a hard one's (hard = likely wrong label)
    log_p = torch.log(torch.tensor([0.9, 0.1], requires_grad=True))
    log_p.retain_grad()
    weighted_nll(log_p, "reverse-focal", 4.0).backward()
    assert abs(log_p.grad[0]) > abs(log_p.grad[1])


def test_crf_head_shapes_valid_paths_and_sequence_reverse_focal(folder, english):
    model, tokens = make(folder, head="crf")
    model.eval()
    corpus = corpus_of(tokens, english[:10])
    batch = corpus.batch(range(len(corpus.windows)))
    predicted = model.predict(batch)
    counts = batch.word_mask.sum(1).tolist()
    assert [len(row) for row in predicted] == counts
    assert all(0 <= tag < len(TAGS) for row in predicted for tag in row)
    assert all(is_valid([TAGS[i] for i in row], "iob2") for row in predicted)  # constrained Viterbi
    ids = predict_ids(model, corpus, batch_size=4)
    assert [len(row) for row in ids] == [len(words) for words in corpus.words]
    scores = model.word_scores(model.hidden(batch), batch)
    log_p = model.crf.log_likelihood(scores, batch.labels.clamp(min=0), batch.word_mask)
    expected = (-(1 + log_p.exp()) ** 4 * log_p).mean()
    assert model.ner_loss(batch, "reverse-focal", 4.0).item() == pytest.approx(expected.item(), rel=1e-5)
    assert model.ner_loss(batch, "ce").item() == pytest.approx(-log_p.mean().item(), rel=1e-5)


def test_auxiliary_losses_finite_and_backpropagate(folder, english):
    model, tokens = make(folder, freeze_layers=-1)
    model.train()
    corpus = encode([s.words for s in english[:12]], tokens, 32, 4, ["en", "es"] * 6)
    indices = list(range(len(corpus.windows)))
    batch = corpus.batch(indices)
    generator = torch.Generator().manual_seed(0)
    vocabulary = torch.arange(model.encoder.get_input_embeddings().num_embeddings)
    # CL: about 15% of the content pieces are targets, nothing else; 80% of them become the mask token
    masked, targets = random_cloze(batch, 0.15, tokens.mask_id, generator, vocabulary)
    content = batch.piece_word >= 0
    chosen = targets != IGNORE
    assert not (chosen & ~content).any()
    assert torch.equal(targets[chosen], batch.input_ids[chosen])
    assert 0.05 < chosen.sum().item() / content.sum().item() < 0.3
    assert torch.equal(masked[~chosen], batch.input_ids[~chosen])
    assert (masked[chosen] == tokens.mask_id).float().mean() > 0.5
    # PC: exactly the pieces of the words marked as entities
    marks = entity_words([[1 if (i + j) % 3 == 0 else 0 for j in range(len(row))] for i, row in
                          enumerate(model.predict(batch))], TAGS, tuple(batch.word_mask.shape))
    pc_masked, pc_targets = predictive_cloze(batch, marks, tokens.mask_id)
    for row in range(len(indices)):
        for position in range(batch.input_ids.shape[1]):
            word = int(batch.piece_word[row, position])
            expected = word >= 0 and bool(marks[row, word])
            assert (int(pc_targets[row, position]) != IGNORE) == expected
            assert (int(pc_masked[row, position]) == tokens.mask_id) == expected
    assert predictive_cloze(batch, torch.zeros_like(marks), tokens.mask_id) is None
    languages = torch.tensor([model.languages.index(lang) for lang in corpus.window_langs(indices)])
    losses = {"li": model.language_loss(model.hidden(batch), batch, languages),
              "cl": model.cloze_loss(batch, masked, targets),
              "pc": model.cloze_loss(batch, pc_masked, pc_targets)}
    embedding = model.encoder.embeddings.word_embeddings.weight
    top = encoder_parts(model.encoder)[1][-1]
    for name, loss in losses.items():
        assert torch.isfinite(loss) and loss.item() > 0, name
        model.zero_grad(set_to_none=True)
        loss.backward()
        assert embedding.grad is not None and embedding.grad.abs().sum() > 0, name
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in top.parameters() if p.ndim == 2), name
    # a softmax restricted to candidate pieces equals the full logits' columns with re-indexed targets
    model.eval()
    candidates = torch.unique(torch.cat([targets[chosen], torch.arange(0, len(vocabulary), 3)]))
    logits = model.cloze_head(model.hidden(batch, masked)[chosen])
    where = [candidates.tolist().index(piece) for piece in targets[chosen].tolist()]
    manual = F.cross_entropy(logits[:, candidates], torch.tensor(where))
    assert model.cloze_loss(batch, masked, targets, candidates).item() == pytest.approx(manual.item(), rel=1e-5)
    assert model.cloze_loss(batch, masked, targets, vocabulary).item() == pytest.approx(
        F.cross_entropy(logits, targets[chosen]).item(), rel=1e-5)
    chance = math.log(len(vocabulary))
    assert abs(model.cloze_loss(batch, masked, targets).item() - chance) < 2.0  # a random model: near chance


def test_checkpoint_state_round_trip(folder, english):
    model, tokens = make(folder, freeze_layers=2, head="crf")
    corpus = corpus_of(tokens, english[:10])
    optimizer = make_optimizer(model, 1e-2, 0.0)
    model.train()
    model.ner_loss(corpus.batch(range(len(corpus.windows)))).backward()
    optimizer.step()
    state = model.trainable_state()
    assert not any(name.startswith("encoder.embeddings") for name in state)  # frozen: from the base folder
    fresh, _ = make(folder, freeze_layers=2, head="crf")
    fresh.load_trainable(state)
    model.eval()
    assert predict_ids(fresh, corpus) == predict_ids(model, corpus)
    for name, value in model.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[name]), name


def test_schedule_and_batches():
    assert [round(lr_factor(step, 10, 2), 4) for step in range(10)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5,
                                                                          0.375, 0.25, 0.125]
    assert lr_factor(0, 4, 0) == 1.0 and lr_factor(3, 4, 0) == 0.25
