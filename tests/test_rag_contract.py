"""The citation contract and lexical support, piece by piece: reading JSON and prose replies,
the checks each sentence must pass, rendering with inline markers, figures compared exactly,
question coverage weighted by rarity, and the choice of quotes for extractive answers."""

from __future__ import annotations

import json

import jsonschema

from assay.rag.contract import CitedSentence, answer_schema, check, read_reply, render
from assay.rag.extractive import extract
from assay.rag.support import backs, coverage, numbers, terms, windows

PASSAGES = {
    1: "As market comments, we used 20,093 headlines of Nikkei Quick News. They are in Japanese.",
    2: "The size N of a short-term vector was set to 62. We used Adam with a learning rate of 0.0001.",
}
QUESTION = "How many headlines were used as market comments?"


def test_schema_allows_only_given_source_numbers() -> None:
    schema = answer_schema(2)
    good = {"sentences": [{"text": "x", "cites": [2, 1]}]}
    jsonschema.validate(good, schema)
    jsonschema.validate({"sentences": []}, schema)
    for bad in (
        {"sentences": [{"text": "x", "cites": [3]}]},
        {"sentences": [{"text": "x", "cites": []}]},
        {"sentences": [{"text": "x"}]},
    ):
        try:
            jsonschema.validate(bad, schema)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"accepted {bad}")


def test_read_reply_json_and_prose() -> None:
    reply = json.dumps({"sentences": [{"text": " They  used 20,093 headlines ", "cites": [1, 1]}]})
    sentences, as_json = read_reply(reply)
    assert as_json and [(s.text, s.cites) for s in sentences] == [
        ("They used 20,093 headlines", [1])
    ]
    sentences, as_json = read_reply("They used 20,093 headlines [1]. It is Japanese [1][2].")
    assert not as_json
    assert [(s.text, s.cites) for s in sentences] == [
        ("They used 20,093 headlines.", [1]),
        ("It is Japanese.", [1, 2]),
    ]
    assert read_reply('{"sentences": []}') == ([], True)


def test_check_names_the_first_problem() -> None:
    def first(*sentences: CitedSentence) -> str | None:
        return check(list(sentences), PASSAGES, QUESTION)

    ok = CitedSentence("The authors used 20,093 headlines as market comments", [1])
    assert first(ok) is None and ok.backed
    assert first(CitedSentence("They used 20,093 headlines as comments", [])) == (
        "sentence 1 cites no source"
    )
    assert first(ok, CitedSentence("Headlines were market comments", [1, 7])) == (
        "sentence 2 cites [7], which no source has"
    )
    invented = CitedSentence("They used 31,000 headlines as market comments", [1])
    assert first(invented) == "sentence 1 is not backed by the passages it cites"
    assert not invented.backed
    # backed by its passage but unrelated to the question
    assert first(CitedSentence("The short-term vector size was set to 62", [2])) == (
        "sentence 1 does not address the question"
    )
    # a one-word fragment is not checked against anything: it is refused
    assert first(CitedSentence("Japanese", [1])) == (
        "sentence 1 is not backed by the passages it cites"
    )


def test_render_puts_markers_before_the_full_stop() -> None:
    text = render(
        [CitedSentence("They used 20,093 headlines.", [1]), CitedSentence("Yes!", [1, 2])]
    )
    assert text == "They used 20,093 headlines [1]. Yes [1][2]!"


def test_figures_are_compared_exactly() -> None:
    assert numbers("20,093 headlines, 0.0001 rate, 62.") == {"20093", "0.0001", "62"}
    assert backs("They used 20093 headlines of Nikkei Quick News", [PASSAGES[1]])
    assert not backs("They used 20,094 headlines of Nikkei Quick News", [PASSAGES[1]])


def test_coverage_weights_rare_words() -> None:
    idf = {"gpu": 5.0}.get
    q = terms("How many GPUs were used for the headlines?")

    def weight(t: str) -> float:
        return idf(t) or 1.0

    # every common word is there, the rare one is not: most of the weight is missing
    assert coverage(q, PASSAGES[1], weight) < 0.4
    assert (
        coverage(terms("Which headlines were used as market comments?"), PASSAGES[1], weight) == 1.0
    )


def test_extract_quotes_the_best_window() -> None:
    assert windows("One. Two. Three.") == ["One. Two.", "Two. Three."]
    quotes = extract(QUESTION, sorted(PASSAGES.items()), lambda t: 1.0)
    assert len(quotes) == 1 and quotes[0].cites == [1] and "20,093" in quotes[0].text
    assert quotes[0].text.startswith("\u201c") and quotes[0].backed
