"""The model: features of a prepared comment, the fitted heads, and the registry of versions."""
