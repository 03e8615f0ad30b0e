"""avssl: audio-visual self-supervised learning."""

__version__ = "0.1.0"
