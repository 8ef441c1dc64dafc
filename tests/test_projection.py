"""Entity projection, piece by piece: SimAlign argmax/itermax against brute force and a hand-worked matrix, span
rules on hand-made alignments, the entity aligner's examples and inputs, parallel-text validation, word vectors
through windows, and the identical-string precision estimate."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from zsner.errors import ZsnerError
from zsner.projection.alignment import itermax, mutual_argmax
from zsner.projection.corpus import assemble, identical_precision, split_dev
from zsner.projection.examples import build_examples, identical_span, occurrences
from zsner.projection.parallel import Pair, choose_lines, load_pairs, read_parallel, tokenize
from zsner.projection.spans import Projection, from_alignment, mark_overlaps, project_entity, sentence_tags

torch.set_num_threads(1)


# -- alignment ------------------------------------------------------------------------------------------------

def first_max(values) -> int:
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def brute_mutual(sim) -> set:
    rows, cols = len(sim), len(sim[0])
    return {(i, j) for i in range(rows) for j in range(cols)
            if first_max(sim[i]) == j and first_max([sim[k][j] for k in range(rows)]) == i}


def brute_itermax(sim, rounds=2, alpha=0.9) -> set:
    rows, cols = len(sim), len(sim[0])
    aligned = brute_mutual(sim)
    if min(rows, cols) <= 2:
        return aligned
    for _ in range(rounds - 1):
        free_rows = {i for i in range(rows) if all(a != i for a, _ in aligned)}
        free_cols = {j for j in range(cols) if all(b != j for _, b in aligned)}
        if not free_rows or not free_cols:
            break
        scaled = [[sim[i][j] * min(1.0, alpha * (i in free_rows) + alpha * (j in free_cols)) for j in range(cols)]
                  for i in range(rows)]
        added = {(i, j) for i, j in brute_mutual(scaled) if i in free_rows or j in free_cols} - aligned
        if not added:
            break
        aligned |= added
    return aligned


def as_set(matrix) -> set:
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(matrix))}


HAND = np.array([[0.9, 0.8, 0.1],
                 [0.85, 0.2, 0.3],
                 [0.1, 0.7, 0.6]])


def test_argmax_and_itermax_on_a_hand_worked_matrix():
    assert as_set(mutual_argmax(HAND)) == {(0, 0)}
    # round 2 scales by 0.9 where one side is free: (0, 1) and (1, 0) become mutual best pairs
    assert as_set(itermax(HAND, rounds=2)) == {(0, 0), (0, 1), (1, 0)}
    # round 3: only word 2 of each side is free; (2, 1) is mutual in the rescaled matrix
    assert as_set(itermax(HAND, rounds=3)) == {(0, 0), (0, 1), (1, 0), (2, 1)}
    assert as_set(itermax(HAND[:2], rounds=3)) == {(0, 0)}  # two source words: SimAlign stops after round 1


@pytest.mark.parametrize("seed", range(40))
def test_alignment_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(1, 9, size=2)
    sim = rng.random((rows, cols))
    if seed % 3 == 0:
        sim = np.round(sim, 1)  # ties: the first index wins on both sides
    listed = sim.tolist()
    assert as_set(mutual_argmax(sim)) == brute_mutual(listed)
    for rounds in (1, 2, 4):
        assert as_set(itermax(sim, rounds=rounds)) == brute_itermax(listed, rounds=rounds), rounds


# -- span rules -----------------------------------------------------------------------------------------------

def matrix(rows: int, cols: int, links) -> np.ndarray:
    aligned = np.zeros((rows, cols), dtype=bool)
    for i, j in links:
        aligned[i, j] = True
    return aligned


RULES = dict(fill_gaps=True, ratio=2.0, slack=1)


def test_contiguous_span_and_tags():
    # "the European Central Bank said" -> "el Banco Central Europeo dijo"
    aligned = matrix(5, 5, [(0, 0), (1, 3), (2, 2), (3, 1), (4, 4)])
    [projection] = from_alignment([("ORG", 1, 4)], aligned, **RULES)
    assert projection.ok and projection.span == (1, 4) and projection.covered and not projection.gap_filled
    assert sentence_tags([projection], 5) == (["O", "B-ORG", "I-ORG", "I-ORG", "O"], "")


def test_gap_taken_in_only_when_aligned_to_nothing_outside():
    # "Harvard University" -> "Universidad de Harvard": "de" aligned to nothing
    aligned = matrix(3, 4, [(0, 2), (1, 0), (2, 3)])
    [projection] = from_alignment([("ORG", 0, 2)], aligned, **RULES)
    assert projection.ok and projection.span == (0, 3) and projection.gap_filled
    [strict] = from_alignment([("ORG", 0, 2)], aligned, fill_gaps=False, ratio=2.0, slack=1)
    assert strict.reason == "broken"
    # the gap word is aligned to a source word outside the entity: a broken span
    aligned[2, 1] = True
    [broken] = from_alignment([("ORG", 0, 2)], aligned, **RULES)
    assert broken.reason == "broken"
    assert sentence_tags([broken], 4) == (None, "broken")


def test_unaligned_length_and_coverage():
    assert project_entity("PER", 0, 1, set(), set(), **RULES).reason == "unaligned"
    assert project_entity("PER", 0, 1, {0, 1, 2}, set(), **RULES).ok  # 3 <= 2 * 1 + 1
    assert project_entity("PER", 0, 1, {0, 1, 2, 3}, set(), **RULES).reason == "length"
    assert project_entity("PER", 0, 4, {5}, set(), **RULES).reason == "length"  # 4 > 2 * 1 + 1
    # one entity word aligned to nothing: projected, but not covered (not a confident example)
    aligned = matrix(3, 3, [(0, 0), (2, 1)])
    [projection] = from_alignment([("LOC", 0, 2)], aligned, **RULES)
    assert projection.ok and projection.span == (0, 1) and not projection.covered


def test_overlapping_projections_are_ambiguous_and_drop_the_sentence():
    aligned = matrix(4, 4, [(0, 1), (2, 1), (2, 2)])
    projections = from_alignment([("PER", 0, 1), ("LOC", 2, 3), ("ORG", 3, 4)], aligned, **RULES)
    assert [p.reason for p in projections] == ["ambiguous", "ambiguous", "unaligned"]
    assert sentence_tags(projections, 4) == (None, "ambiguous")  # the first failure names the sentence's reason
    touching = mark_overlaps([Projection("PER", 0, 1, 0, 2), Projection("LOC", 2, 3, 2, 3)])
    assert all(p.ok for p in touching)


# -- examples for the entity aligner --------------------------------------------------------------------------

def test_occurrences_and_identical_span():
    words = "Obama met Obama in New York".split()
    assert occurrences(["Obama"], words) == [0, 2]
    assert identical_span(["Obama"], words) is None  # twice: not a safe example
    assert identical_span(["New", "York"], words) == (4, 6)
    assert occurrences(["new", "york"], words, lower=True) == [4]


def synthetic_pairs(count: int, seed: int = 0):
    """Pairs whose English entities are either copied into the target (identical) or translated."""
    rng = random.Random(seed)
    names = ["Paris", "Siemens", "Maria Lopez", "Reuters", "Oslo"]
    pairs, entities, projections = [], [], []
    for line in range(count):
        name = rng.choice(names).split()
        src = ["Yesterday", *name, "said", "that", "the", "United", "States", "grew"]
        tgt = ["Ayer", *name, "dijo", "que", "Estados", "Unidos", "creció"]
        spans = [("PER", 1, 1 + len(name)), ("LOC", len(name) + 4, len(name) + 6)]
        united = Projection("LOC", len(name) + 4, len(name) + 6, len(name) + 3, len(name) + 5, covered=line % 2 == 0)
        same = Projection("PER", 1, 1 + len(name), 1, 1 + len(name), covered=True)
        pairs.append(Pair(line, src, tgt))
        entities.append(spans)
        projections.append([same, united])
    return pairs, entities, projections


def test_examples_positives_negatives_and_share():
    pairs, entities, projections = synthetic_pairs(40)
    examples = build_examples(pairs, entities, projections, total=40, negative_share=0.25, seed=3)
    kinds = [e.origin for e in examples]
    assert len(examples) == 40 and kinds.count("negative") == 10  # 25% of the examples
    for example in examples:
        pair = pairs[example.line]
        assert example.target == pair.tgt
        if example.origin == "identical":
            assert pair.tgt[example.span[0]:example.span[1]] == example.entity  # spelt the same, that very span
        elif example.origin == "similarity":  # only confident projections: covered, no gap filled
            assert example.entity == ["United", "States"] and example.span == (len(pair.tgt) - 3, len(pair.tgt) - 1)
            assert example.line % 2 == 0
        else:
            assert example.span is None and not occurrences(example.entity, pair.tgt, lower=True)
            own = [pair.src[s:e] for _, s, e in entities[example.line]]
            assert example.entity not in own
    # few positives: every one is used and negatives shrink to keep their 25% share
    few = build_examples(pairs[:4], entities[:4], projections[:4], total=1000, negative_share=0.25, seed=3)
    positive = [e for e in few if e.origin != "negative"]
    assert len(positive) == 6 and len(few) - len(positive) == 2  # 4 identical + 2 confident, 2 negatives
    assert build_examples(pairs, entities, projections, 40, 0.25, seed=3) == examples  # seeded


def test_aligner_inputs_cover_long_targets_with_the_entity_in_every_window(tmp_path):
    from zsner.projection.aligner import AlignerInputs
    from zsner.transformer.align import PieceTokenizer
    from zsner.transformer.model import load_pretrained
    from zsner.transformer.tiny import build_tiny_model

    words = "Maria Lopez visited Oslo with the people of Siemens yesterday".split()
    folder = build_tiny_model(tmp_path / "tiny", words, layers=1, hidden=8)
    tokens = PieceTokenizer(load_pretrained(str(folder))[0], 8)
    target = words * 4  # 40 words: far more pieces than one 24-piece window holds
    inputs = AlignerInputs(tokens, [["Maria", "Lopez"], ["x"] * 30], [target, target], [(10, 12), None],
                           window=24, overlap=4)
    assert inputs.entity_pieces[1] is None  # longer than half a window: not aligned (reported as length)
    windows = [w for w in inputs.windows if w.sentence == 0]
    assert len(windows) > 2
    owned = [word for w in windows for word in range(w.own_start, w.own_end)]
    assert owned == list(range(len(target)))  # every word read exactly once
    batch = inputs.batch(list(range(len(inputs.windows))))
    entity = inputs.entity_pieces[0]
    assert batch.input_ids.shape[1] <= 24
    for row, item in enumerate(batch.windows):
        ids = batch.input_ids[row].tolist()
        assert ids[: len(entity) + 2] == [tokens.cls_id, *entity, tokens.sep_id]
        labels = batch.labels[row, : item.end - item.start].tolist()
        assert labels == [int(10 <= word < 12) for word in range(item.start, item.end)]
        types = batch.token_type_ids[row, : int(batch.attention_mask[row].sum())].tolist()
        assert types == [0] * (len(entity) + 2) + [1] * (len(types) - len(entity) - 2)


def test_aligner_training_lowers_its_loss(tmp_path):
    from zsner.projection.aligner import AlignerInputs, EntityAligner, inside_probabilities, train_aligner
    from zsner.transformer.tiny import build_tiny_model

    pairs, entities, projections = synthetic_pairs(24)
    examples = build_examples(pairs, entities, projections, total=32, negative_share=0.25, seed=1)
    folder = build_tiny_model(tmp_path / "tiny", [w for p in pairs for w in p.src + p.tgt], layers=2, hidden=16)
    model = EntityAligner(str(folder))
    inputs = AlignerInputs(model.tokens, [e.entity for e in examples], [e.target for e in examples],
                           [e.span for e in examples], window=32, overlap=4)
    stats = train_aligner(model, inputs, epochs=6, lr=5e-3, batch_size=8, seed=1)
    assert stats["steps"] == 6 * 4 and stats["loss_per_epoch"][-1] < 0.7 * stats["loss_per_epoch"][0]
    inside = inside_probabilities(model, inputs, batch_size=8)
    assert [len(row) for row in inside] == [len(e.target) for e in examples]


# -- parallel text --------------------------------------------------------------------------------------------

def test_tokenize_splits_punctuation_keeps_compounds_numbers_and_acronyms():
    assert tokenize("The EU's Luxembourg-based office (ECB) reported 2.6 percent, U.S. said.") == [
        "The", "EU", "'s", "Luxembourg-based", "office", "(", "ECB", ")", "reported", "2.6", "percent", ",",
        "U.S.", "said", "."]
    assert tokenize("Mr. Klaus of Acme Inc. met Mrs. Lee.") == ["Mr.", "Klaus", "of", "Acme", "Inc.", "met", "Mrs.",
                                                                 "Lee", "."]  # CoNLL keeps "Mr." whole
    assert tokenize("قال الرئيسُ «الاقتصاد».") == ["قال", "الرئيسُ", "«", "الاقتصاد", "»", "."]  # marks stay


def write_pair(folder, en: bytes, es: bytes, meta: str | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "en.txt").write_bytes(en)
    (folder / "es.txt").write_bytes(es)
    if meta is not None:
        (folder / "meta.tsv").write_text(meta)
    return folder


@pytest.mark.parametrize("en,es,named,line,fragment", [
    (b"a\nb\n", b"a\nb\nc\n", "es.txt", 3, "no translation"),
    (b"a\nb\nc\nd", b"a\nb\n", "en.txt", 3, "no translation"),
    (b"a\n \nc\n", b"a\nb\nc\n", "en.txt", 2, "empty sentence"),
    (b"a\nb\n\n", b"a\nb\n\n", "en.txt", 3, "empty sentence on both sides"),
    (b"a\nb\nc\n", b"a\nb\xff\nc\n", "es.txt", 2, "not valid utf-8"),
])
def test_parallel_validation_names_file_and_line(tmp_path, en, es, named, line, fragment):
    folder = write_pair(tmp_path / "par", en, es)
    with pytest.raises(ZsnerError) as caught:
        read_parallel(folder, "en", "es")
    message = str(caught.value)
    assert message.startswith(f"{folder / named}:{line}: ") and fragment in message


def test_parallel_tolerates_bom_and_crlf_and_filters_by_meta(tmp_path):
    folder = write_pair(tmp_path / "par", b"\xef\xbb\xbfOne cat.\r\nTwo dogs.\r\nTom ran.\r\n",
                        "Un gato.\nDos perros.\nTom corrió.".encode(), "news\tx\nnews\ty\ntatoeba-test\tz\n")
    assert read_parallel(folder, "en", "es") == (["One cat.", "Two dogs.", "Tom ran."],
                                                 ["Un gato.", "Dos perros.", "Tom corrió."])
    pairs, lines = load_pairs(folder, "en", "es", exclude="tatoeba")
    assert lines == 3 and [p.line for p in pairs] == [0, 1] and pairs[0].src == ["One", "cat", "."]
    (folder / "meta.tsv").write_text("news\tx\n")
    with pytest.raises(ZsnerError, match="1 rows, but the parallel files have 3 lines"):
        load_pairs(folder, "en", "es", exclude="tatoeba")


def test_fractions_are_nested_seeded_subsets():
    quarter, half, whole = (choose_lines(1000, share, 0, seed=7) for share in (0.25, 0.5, 1.0))
    assert len(quarter) == 250 and len(half) == 500 and whole == list(range(1000))
    assert set(quarter) <= set(half) and quarter == sorted(quarter)
    capped = choose_lines(1000, 0.5, 40, seed=7)
    assert len(capped) == 40 and set(capped) <= set(quarter)  # --max-pairs keeps the first of the same order
    assert choose_lines(1000, 0.25, 0, seed=8) != quarter
    allowed = [i % 2 == 0 for i in range(1000)]
    assert all(i % 2 == 0 for i in choose_lines(1000, 1.0, 0, 7, allowed))


# -- word vectors ---------------------------------------------------------------------------------------------

def test_word_means_average_each_words_pieces():
    from zsner.projection.encoder import word_means

    states = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    piece_word = torch.tensor([[-1, 0, 0, 1, -1, -1], [-1, 0, 1, 1, 1, -1]])
    means = word_means(states, piece_word, 2)
    assert torch.equal(means[0, 0], states[0, 1:3].mean(0)) and torch.equal(means[0, 1], states[0, 3])
    assert torch.equal(means[1, 0], states[1, 1]) and torch.equal(means[1, 1], states[1, 2:5].mean(0))


def test_layer_vectors_match_a_direct_forward_and_long_sentences_go_through_windows(tmp_path):
    from transformers import AutoModel

    from zsner.projection.encoder import LayerEncoder
    from zsner.transformer.tiny import build_tiny_model

    words = "Maria Lopez visited the old harbour of Oslo with friends".split()
    folder = str(build_tiny_model(tmp_path / "tiny", words, layers=3, hidden=16))
    encoder = LayerEncoder(folder, layer=2, window=16, overlap=4)
    short, long = words[:4], words * 5
    vectors = encoder.word_vectors([short, long], batch_size=3)
    assert vectors[0].shape == (4, 16) and vectors[1].shape == (50, 16)  # every word of the long one, none cut
    reference = AutoModel.from_pretrained(folder).eval()
    pieces = encoder.tokens.word_pieces(short)
    ids = [encoder.tokens.cls_id] + [p for word in pieces for p in word] + [encoder.tokens.sep_id]
    with torch.no_grad():
        states = reference(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[2][0]
    expected, position = [], 1
    for word in pieces:
        expected.append(states[position:position + len(word)].mean(0))
        position += len(word)
    assert torch.allclose(vectors[0], torch.stack(expected), atol=1e-5)
    with pytest.raises(ZsnerError, match="only 3 layers"):
        LayerEncoder(folder, layer=4, window=16, overlap=4)


# -- corpus and statistics ------------------------------------------------------------------------------------

def test_assemble_counts_and_identical_precision():
    pairs = [Pair(0, ["Obama", "spoke"], ["Obama", "habló"]), Pair(1, ["Rain", "fell"], ["Llovió"]),
             Pair(2, ["Paris", "and", "Rome"], ["París", "y", "Roma"]), Pair(3, ["Oslo", "won"], ["ganó", "Oslo"])]
    entities = [[("PER", 0, 1)], [], [("LOC", 0, 1), ("LOC", 2, 3)], [("LOC", 0, 1)]]
    projections = [[Projection("PER", 0, 1, 0, 1)], None,
                   [Projection("LOC", 0, 1, 0, 1), Projection("LOC", 2, 3, reason="unaligned")],
                   [Projection("LOC", 0, 1, 0, 1)]]  # lands on "ganó", not on "Oslo"
    kept, stats = assemble(pairs, entities, projections)
    assert [(s.words, s.tags, s.line) for s in kept] == [
        (["Obama", "habló"], ["B-PER", "O"], 1), (["Llovió"], ["O"], 2), (["ganó", "Oslo"], ["B-LOC", "O"], 4)]
    assert stats["sentences"] == {"used": 4, "kept": 3, "kept_with_entities": 2, "kept_without_entities": 1,
                                  "dropped": 1, "dropped_by_reason": {"unaligned": 1}}
    assert stats["entities"] == {"source": {"LOC": 3, "PER": 1}, "projected": {"LOC": 1, "PER": 1},
                                 "failed_by_reason": {"unaligned": 1}}
    assert assemble(pairs, entities, projections, keep_empty=False)[1]["sentences"]["dropped_by_reason"] == {
        "no-entity": 1, "unaligned": 1}
    # identical strings: "Obama" (right) and "Oslo" (wrong); Paris/Rome are spelt differently
    assert identical_precision(pairs, entities, projections, range(4)) == {
        "entities": 2, "projected": 2, "correct": 1, "precision": 50.0, "projected_share": 100.0}
    assert identical_precision(pairs, entities, projections, [1, 2])["precision"] is None
    train, dev = split_dev(kept, 0.34, seed=1)
    assert len(dev) == 1 and sorted(train + dev, key=lambda s: s.line) == kept


def test_cased_only_writes_lowercase_spans_as_o_and_counts_them():
    pairs = [Pair(0, ["Spanish", "firm", "Telefónica"], ["la", "firma", "española", "Telefónica"]),
             Pair(1, ["the", "euro", "zone"], ["la", "zona", "euro"]),
             Pair(2, ["in", "Greek"], ["en", "ελληνικά"])]
    entities = [[("MISC", 0, 1), ("ORG", 2, 3)], [("MISC", 1, 3)], [("MISC", 1, 2)]]
    projections = [[Projection("MISC", 0, 1, 2, 3), Projection("ORG", 2, 3, 3, 4)],
                   [Projection("MISC", 1, 3, 1, 3)], [Projection("MISC", 1, 2, 1, 2)]]
    plain, plain_stats = assemble(pairs, entities, projections)
    kept, stats = assemble(pairs, entities, projections, cased_only=True)
    assert [s.tags for s in plain] == [["O", "O", "B-MISC", "B-ORG"], ["O", "B-MISC", "I-MISC"], ["O", "B-MISC"]]
    assert [s.tags for s in kept] == [["O", "O", "O", "B-ORG"], ["O", "O", "O"], ["O", "O"]]  # no case: gone too
    assert stats["sentences"] == plain_stats["sentences"]  # sentences are kept, only the spans go
    assert stats["entities"]["projected"] == {"ORG": 1} and stats["entities"]["uncased_written_o"] == {"MISC": 3}
    assert "uncased_written_o" not in plain_stats["entities"]
    failed = [Pair(3, ["Spanish", "Oslo"], ["español", "x"])]  # a failed entity still drops its sentence
    kept, stats = assemble(failed, [[("MISC", 0, 1), ("LOC", 1, 2)]],
                           [[Projection("MISC", 0, 1, 0, 1), Projection("LOC", 1, 2, reason="unaligned")]],
                           cased_only=True)
    assert kept == [] and stats["sentences"]["dropped_by_reason"] == {"unaligned": 1}
    assert stats["entities"]["uncased_written_o"] == {}


def test_classic_tagger_run_folder_tags_source_sentences(tmp_path):
    from zsner.config import TaggerConfig
    from zsner.data.vocab import Vocabulary
    from zsner.projection.tagging import find_tagger, tag_sentences
    from zsner.train.model_io import build_tagger, save_model
    from zsner.train.prepare import Vocabs

    tags = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC") for p in "SBIE"]
    vocabs = Vocabs(Vocabulary(["<pad>", "<unk>", "Peter"]), Vocabulary(["<pad>", "<unk>", "P"]), Vocabulary(tags))
    config = TaggerConfig(word_dim=6, char_dim=4, char_hidden=4, word_hidden=4, dense_dim=4)
    torch.manual_seed(0)
    (tmp_path / "run").mkdir()
    save_model(tmp_path / "run/best-model.pt", build_tagger(config, vocabs), vocabs, config, {"lang": "en"})
    tagger = find_tagger(str(tmp_path / "run"))
    assert tagger.kind == "classic" and tagger.file.name == "best-model.pt" and tagger.base_model == ""
    sentences = [["Peter", "lives", "in", "Paris"], ["Hi"]]
    predicted = tag_sentences(tagger, sentences, "en")
    assert [len(row) for row in predicted] == [4, 1]
    assert all(tag == "O" or tag[:2] in ("B-", "I-") for row in predicted for tag in row)  # IOB2, not IOBES
