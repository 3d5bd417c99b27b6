"""``TextPipeline.prepare(text)``: the one pass from a comment to its :class:`Prepared` form."""

from dataclasses import dataclass
from pathlib import Path

from .lemmatize import Lemmatizer
from .normalize import mask_entities, normalize
from .prepared import Prepared
from .rules import RuleBook, RuleDecision
from .tokenize import tokenize


@dataclass(frozen=True)
class TextPipeline:
    """The rules and the lemmatiser, built once per process; ``prepare`` then ``decide`` per comment."""

    rules: RuleBook
    lemmatizer: Lemmatizer

    @classmethod
    def load(cls, rules_dir: Path) -> "TextPipeline":
        rules = RuleBook.load(Path(rules_dir))
        return cls(rules=rules, lemmatizer=Lemmatizer(rules.lexicon))

    def prepare(self, text: str) -> Prepared:
        text = text if isinstance(text, str) else ""
        normalized = normalize(text)
        masked = mask_entities(normalized)
        tokens = tuple(tokenize(masked))
        return Prepared(text=text, normalized=normalized, masked=masked, tokens=tokens,
                        lemmas=self.lemmatizer.lemmas(tokens), stop_hits=self.rules.scan(text))

    def prepare_many(self, texts) -> list[Prepared]:
        return [self.prepare(t) for t in texts]

    def decide(self, prepared: Prepared) -> RuleDecision | None:
        """`stop` or `padding` when the rules are sure; ``None`` leaves the comment to the model."""
        return self.rules.decide(prepared, self.lemmatizer)
