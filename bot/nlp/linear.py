"""Scores of a linear model on sparse features, the one way the project's classifiers compute them.

``features @ coefficients.T`` with the coefficients kept as scikit-learn fits them
(classes x features, row-major) makes SciPy copy the whole transposed matrix into
row-major order on every call: about 2 ms per classifier per message with this
project's vocabularies (measured with ``python -m benchmarks.profile``), for three
classifiers (intent, question matcher, triage). The transposed copy is made once
per coefficient array and kept; the scores are the same numbers.
"""

from __future__ import annotations

import weakref
from typing import Any, Dict, Tuple

import numpy as np

# id(coefficients) -> (a weak reference to them, the same matrix transposed, row-major);
# an entry goes when its coefficients do. Arrays cannot be dictionary keys (unhashable).
_TRANSPOSED: Dict[int, Tuple[weakref.ReferenceType[np.ndarray], np.ndarray]] = {}


def transposed(coefficients: np.ndarray) -> np.ndarray:
    """``coefficients.T`` as a row-major array, made once per coefficient array."""
    key = id(coefficients)
    found = _TRANSPOSED.get(key)
    if found is not None and found[0]() is coefficients and found[1].shape == coefficients.shape[::-1]:
        return found[1]
    copy = np.ascontiguousarray(coefficients.T)
    _TRANSPOSED[key] = (weakref.ref(coefficients, lambda _: _TRANSPOSED.pop(key, None)), copy)
    return copy


def scores(features: Any, coefficients: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """``features @ coefficients.T + intercepts`` as a dense array (one row per feature row)."""
    return np.asarray(features @ transposed(coefficients) + intercepts)
