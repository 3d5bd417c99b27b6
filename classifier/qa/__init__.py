"""The QA analysts' workflow: the labels store, the labelling queue, agreement, retrain and promote."""
