"""The topics language: its exact topic classifier and grammar automaton come from its construction."""

from itertools import pairwise

import numpy as np
import pytest

from samecurve.errors import OrganismFailedError
from samecurve.organisms import topics as T


def _docs(n=300, seed=0, marker_share=0.3, switch_prob=0.3):
    return T.documents(np.random.default_rng(seed), n, 4, 24, marker_share, switch_prob)


def test_grammar_samples_are_valid_and_classified_by_construction():
    toks, tops = _docs()
    assert all(T.is_valid(r) for r in toks)
    for row, sent_topic in zip(toks, tops):
        content = T.IS_CONTENT[row]
        # every content word's vocabulary topic is the topic the sampler drew for its sentence
        assert (T.TOKEN_TOPIC[row][content] == sent_topic[content]).all()
    labels = np.arange(200) % 4
    texts = T.single_topic_texts(np.random.default_rng(1), labels, 24)
    assert (T.topic_of(texts) == labels).all()
    assert all(T.is_valid(r) for r in texts) and not (texts == T.MARK0 + labels[:, None]).any()


def test_sampler_statistics_follow_the_spec():
    toks, _ = _docs(2000, seed=2, marker_share=0.3, switch_prob=0.2)
    sents = [T.sentence_topics(r) for r in toks]
    switches = [a != b for s in sents for a, b in pairwise(s)]
    assert 0.15 < np.mean(switches) < 0.25
    n_markers = np.isin(toks, T.MARK0 + np.arange(4)).sum()
    prev = toks[:, :-1]
    starts = (np.isin(toks[:, 1:], T.DETS) & ((prev == T.BOS) | (prev == T.END) | (prev >= T.MARK0) & (prev < T.WORD0))).sum()
    assert 0.26 < n_markers / starts < 0.34


def test_automaton_accepts_exactly_the_templates():
    rng = np.random.default_rng(3)
    cats = (T.C_DET, T.C_ADJ, T.C_NOUN, T.C_VERB, T.C_END)
    example = {T.C_DET: T.DETS[0], T.C_END: T.END, **{c: int(T.words(1, c)[0]) for c in (T.C_ADJ, T.C_NOUN, T.C_VERB)}}
    for tpl in T.TEMPLATES:
        assert T.is_valid([T.BOS] + T.sentence(rng, 2, tpl), complete=True)
        for i in range(len(tpl)):  # every one-category substitution that is not itself a template is rejected
            for c in cats:
                alt = tpl[:i] + (c,) + tpl[i + 1:]
                if alt not in T.TEMPLATES and c != tpl[i]:
                    assert not T.is_valid([T.BOS] + [example[x] for x in alt], complete=True), alt


def test_corruptions_are_invalid():
    rng = np.random.default_rng(4)
    s = [T.BOS] + T.sentence(rng, 0, T.PROMPT_TEMPLATE)           # the ADJ NOUN VERB the NOUN .
    assert T.is_valid(s, complete=True) and T.is_valid(s[:4])     # a prefix is fine
    assert not T.is_valid(s[:4], complete=True)                   # but it is not a whole document
    swapped = s.copy()
    swapped[3], swapped[4] = swapped[4], swapped[3]               # NOUN VERB -> VERB NOUN
    assert not T.is_valid(swapped)
    mixed = s.copy()
    mixed[6] = int(T.words(2, T.C_NOUN)[0])                       # object from another topic
    assert not T.is_valid(mixed)
    assert not T.is_valid([T.BOS, T.MARK0 + 1] + s[1:])           # marker disagrees with its sentence
    assert T.is_valid([T.BOS, T.MARK0 + 0] + s[1:])
    assert not T.is_valid(s[1:])                                  # no BOS
    assert not T.is_valid(s[:3] + [T.PAD] + s[3:])
    assert not T.is_valid(s + [T.END])


def test_check_refuses_an_organism_that_did_not_learn():
    spec = T.TopicSpec(0)
    good = {"sample_validity": 0.95, "marker_follow": 0.99, "topic_persistence": 0.8}
    T.check(spec, good)
    for key in good:
        with pytest.raises(OrganismFailedError, match=key):
            T.check(spec, {**good, key: 0.3})


def test_generate_copies_equal_separate_calls_bit_for_bit():
    """`copies` batches settings into one forward per step; each copy must be what its own call gives."""
    import torch

    torch.manual_seed(0)
    model = T.make_model(T.TopicSpec(0)).eval()
    prompts = torch.from_numpy(T.prompts(np.random.default_rng(0), np.arange(12) % 4))
    shifts = [torch.randn(64) * s for s in (0.0, 1.0, 3.0)]

    def steered(v):
        return lambda toks: model(token_embeds=model.embed(toks) + v)

    def batched(toks):
        v = torch.cat([s.expand(12, 64) for s in shifts])[:, None, :]
        return model(token_embeds=model.embed(toks) + v)

    with torch.no_grad():
        alone = [T.generate(steered(v), prompts, 10, seed=5) for v in shifts]
        together = T.generate(batched, prompts, 10, seed=5, copies=3).split(12)
    for a, b in zip(alone, together):
        assert torch.equal(a, b)
