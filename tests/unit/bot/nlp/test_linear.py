"""The classifiers' linear scores (bot/nlp/linear.py): the same numbers as ``features @ coef.T``,
with the transposed copy made once per coefficient array."""

from __future__ import annotations

import gc

import numpy as np
import scipy.sparse as sp

from bot.nlp import linear


def test_scores_are_bit_identical_to_the_plain_product():
    rng = np.random.default_rng(0)
    coefficients, intercepts = rng.random((12, 5000)), rng.random(12)
    features = sp.random(4, 5000, density=0.01, format="csr", random_state=1)
    assert np.array_equal(
        linear.scores(features, coefficients, intercepts), features @ coefficients.T + intercepts
    )


def test_the_transposed_copy_is_made_once_and_dropped_with_its_coefficients():
    coefficients = np.arange(6.0).reshape(2, 3)
    first = linear.transposed(coefficients)
    assert first.flags["C_CONTIGUOUS"] and np.array_equal(first, coefficients.T)
    assert linear.transposed(coefficients) is first
    other = np.ones((3, 2))
    assert np.array_equal(linear.transposed(other), other.T), "another array gets its own copy"
    before = len(linear._TRANSPOSED)
    del coefficients, first
    gc.collect()
    assert len(linear._TRANSPOSED) == before - 1
