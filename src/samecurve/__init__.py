"""samecurve: grade interpretability methods and their non-interp alternatives on the same curve."""

__version__ = "0.1.0"
