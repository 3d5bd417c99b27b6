import shutil

import pytest

from classifier import config
from classifier.text.lemmatize import Lemmatizer
from classifier.text.pipeline import TextPipeline
from classifier.text.rules import PADDING_DETECTORS, RuleBook, RuleError, light_normalize

BOOK = RuleBook.load(config.RULES_DIR)
PIPE = TextPipeline(BOOK, Lemmatizer(BOOK.lexicon))


def _stop_cases(kind):
    return [pytest.param(rule, text, id=f"{rule.id}:{text}")
            for rule in BOOK.stop_rules for text in BOOK.examples[rule.id][kind]]


def _padding_cases(kind):
    return [pytest.param(rid, text, id=f"{rid}:{text}")
            for rid in BOOK.padding for text in BOOK.examples[rid][kind]]


def _fires(rid, text, lemmatizer):
    return PADDING_DETECTORS[rid](BOOK, BOOK.padding[rid], PIPE.prepare(text), lemmatizer)


@pytest.mark.parametrize("rule,text", _stop_cases("match"))
def test_stop_rule_matches_its_examples(rule, text):
    assert any(True for _ in rule.finditer(light_normalize(text)))


@pytest.mark.parametrize("rule,text", _stop_cases("no_match"))
def test_stop_rule_leaves_its_counter_examples(rule, text):
    assert not any(True for _ in rule.finditer(light_normalize(text)))


@pytest.mark.parametrize("rid,text", _padding_cases("match"))
def test_padding_detector_fires_on_its_examples(rid, text, lemmatizer):
    assert _fires(rid, text, lemmatizer)


@pytest.mark.parametrize("rid,text", _padding_cases("no_match"))
def test_padding_detector_leaves_its_counter_examples(rid, text, lemmatizer):
    assert not _fires(rid, text, lemmatizer)


def test_every_padding_detector_is_configured():
    assert set(BOOK.padding) == set(PADDING_DETECTORS)


DECISIONS = [
    # a comment made only of stop phrases and filler is `stop`, whatever the model says
    ("НД", "stop"),
    ("HД", "stop"),                                   # Latin H
    ("н/д", "stop"),
    ("Недозвон", "stop"),
    ("не берёт трубку", "stop"),
    ("Абонент недоступен", "stop"),
    ("сбросил", "stop"),
    ("перезвонить", "stop"),
    ("Клиент думает", "stop"),
    ("Обсудили программу, думает", "stop"),
    ("Позвонил. Пообщались. Договорились перезвонить", "stop"),
    ("Отправил КП", "stop"),
    ("инфу отправила в ватсап", "stop"),
    ("ок", "stop"),
    ("+", "stop"),
    ("[phone] ", "stop"),
    ("", "stop"),
    ("   ", "stop"),
    # padding
    ("нд нд нд нд нд нд", "padding"),
    ("сбросил сбросил сбросил сбросил", "padding"),
    ("фывапролдж", "padding"),
    ("Lorem ipsum dolor sit amet", "padding"),
    ("Тема: ___ Итог: ___", "padding"),
    ("Здравствуйте! Спасибо, всего доброго!", "padding"),
    ("!!!!!!!!!!!!!!!!", "padding"),
    # the model decides: there is content beyond stop phrases
    ("НД утром, вечером дозвонилась: берет MBA онлайн, рассрочка 12 мес, договор до пт", None),
    ("Перезвонить 14.03 в 11:00", None),
    ("Клиент думает. Говорит, что новостройки переоценены", None),
    ("Отказ: не готов к ночным сменам и выездам на линию", None),
    ("не подошло по цене, берут у конкурента", None),
    ("не дозвон 20.03 / не дозвон 14.05", None),  # dates are content: the model decides
]


@pytest.mark.parametrize("text,expected", DECISIONS, ids=[repr(c[0]) for c in DECISIONS])
def test_rule_decisions(text, expected):
    decision = PIPE.decide(PIPE.prepare(text))
    assert (decision.category if decision else None) == expected


def test_stop_hits_point_into_the_original_text():
    text = "НД утром, вечером дозвонилась"
    hits = BOOK.scan(text)
    assert [(h.rule, text[h.start:h.end]) for h in hits] == [("no_answer", "НД")]


def test_one_scan_finds_every_rule_and_sees_through_zero_width_characters():
    text = "Н\u200bД, перезвонить. Думает"
    hits = BOOK.scan(text)
    assert [h.rule for h in hits] == ["no_answer", "call_back", "thinking"]
    assert [text[h.start:h.end] for h in hits] == ["Н\u200bД", "перезвонить", "Думает"]
    assert PIPE.decide(PIPE.prepare(text)).hit.rule == "no_answer"


def test_the_pipeline_prepares_each_form_once():
    p = PIPE.prepare("Созвон 12.03 в 15:00, НД")
    assert p.normalized == "созвон 12.03 в 15:00, нд" and p.masked == "созвон _date_ в _time_ , нд"
    assert p.tokens == ("созвон", "_date_", "в", "_time_", "нд") and p.lemmas[-1] == "недозвон"
    assert [(h.rule, h.phrase) for h in p.stop_hits] == [("no_answer", "НД")]


LEMMAS = [
    ("ок", "ок"),            # pymorphy3 says «около»
    ("тел", "телефон"),      # pymorphy3 says «тело»
    ("нд", "недозвон"),
    ("лпр", "лпр"),
    ("д/о", "договориться"),
    ("договорились", "договориться"),
    ("трубку", "трубка"),
    ("_date_", "_date_"),
]


@pytest.mark.parametrize("token,lemma", LEMMAS, ids=[c[0] for c in LEMMAS])
def test_lemmas(token, lemma, lemmatizer):
    assert lemmatizer.lemma(token) == lemma


def test_negation_is_kept():
    from classifier.model.features import extract
    assert extract(PIPE.prepare("не интересует доставка"), PIPE.lemmatizer, BOOK.filler).lemma_text.startswith("не ")


def test_whole_text_features_read_each_stop_phrase_as_one_placeholder():
    from classifier.model.features import extract
    f = extract(PIPE.prepare("Перезвон: уточняла удалёнку. Попросила перезвонить после 18:00"), PIPE.lemmatizer,
                BOOK.filler)
    assert f.lemma_text == "_stop_ уточнять удаленка попросить _stop_ после _time_"
    assert "перезвон" not in f.char_text and f.char_text.count("_stop_") == 2
    # the clause heads still read the words as written
    assert "перезвон" in f.clauses[0].lemma_text
    plain = PIPE.prepare("не интересует доставка, свой транспорт")
    assert extract(plain, PIPE.lemmatizer, BOOK.filler).lemma_text == " ".join(plain.lemmas)
    # each phrase of the scan gives one placeholder, and the words between them survive
    assert extract(PIPE.prepare("нд, вечером сбросил"), PIPE.lemmatizer, BOOK.filler).lemma_text == \
        "_stop_ вечером _stop_"


def test_the_lemma_caches_are_bounded():
    small = Lemmatizer(BOOK.lexicon, cache_size=50)
    for i in range(500):
        small.lemma(f"слово{i}")
        small.is_known(f"слово{i}")
    assert small.cache_info() == {"lemma": 50, "known": 50}
    assert small.lemma("договорились") == "договориться"


@pytest.fixture
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(config.RULES_DIR, target)
    return target


def test_malformed_pattern_names_file_and_rule(rules_copy):
    path = rules_copy / "stop_phrases.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("'\\bавтоответчик\\w*'", "'(автоответчик'"),
                    encoding="utf-8")
    with pytest.raises(RuleError, match=r"stop_phrases\.yaml: rule no_answer: bad pattern"):
        RuleBook.load(rules_copy)


def test_rule_without_examples_is_refused(rules_copy):
    path = rules_copy / "stop_phrases.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("    examples:", text.index("id: thinking"))
    end = text.index("  - id: small_talk")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(RuleError, match="rule thinking: every rule needs examples"):
        RuleBook.load(rules_copy)


def test_missing_file_is_named(rules_copy):
    (rules_copy / "padding.yaml").unlink()
    with pytest.raises(RuleError, match="padding.yaml: rules file not found"):
        RuleBook.load(rules_copy)


def test_broken_yaml_is_named(rules_copy):
    (rules_copy / "filler.yaml").write_text("filler: [unclosed", encoding="utf-8")
    with pytest.raises(RuleError, match="filler.yaml: not valid YAML"):
        RuleBook.load(rules_copy)
