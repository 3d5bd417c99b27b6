"""crmqc: checks whether a CRM comment is expanded (развёрнутый) and applies the CRM rules.

Layers, each importing only those before it (``tests/test_layers.py`` keeps it so):
``config``/``fileio``/``metrics`` → ``text`` → ``model`` → ``checker`` → ``training`` → ``qa`` →
``audit`` → ``service`` and ``cli``; ``crm`` (the regulation, pure functions) imports only ``text`` helpers
and ``config``. Importing this package has no side effects.
"""
