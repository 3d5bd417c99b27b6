"""The text pipeline: normalise → mask entities → tokenise → lemmatise → rules, once per comment.

:class:`~classifier.text.prepare.TextPipeline` turns a comment into a
:class:`~classifier.text.prepare.Prepared` that everything downstream (the rules, the features, the
explanation) reads; nothing downstream goes back to the raw text.
"""
