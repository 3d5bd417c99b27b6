"""Labelled data, training and evaluation: ``data/raw`` → split → model version → metrics."""
