"""The intent classifier: Rasa's LogisticRegressionClassifier with two changes
(no crash on a message without tokens; a faster feature matrix, same numbers)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.components import RobustLogisticRegressionClassifier


def featurised(seed: int, sparse: bool = True, dense: bool = False) -> Message:
    rng = np.random.default_rng(seed)
    message = Message(data={TEXT: f"message {seed}"})
    if sparse:
        matrix = sp.random(1, 300, density=0.05, format="coo", random_state=seed)
        message.add_features(Features(matrix, "sentence", TEXT, "CountVectorsFeaturizer"))
    if dense:
        message.add_features(Features(rng.random((1, 8)), "sentence", TEXT, "DenseFeaturizer"))
    return message


@pytest.fixture
def classifier(tmp_path) -> RobustLogisticRegressionClassifier:
    storage = LocalModelStorage(tmp_path)
    config = {**RobustLogisticRegressionClassifier.get_default_config(), "random_state": 1}
    return RobustLogisticRegressionClassifier(
        config, storage, Resource("classifier"), ExecutionContext(node_name="c", graph_schema=None)
    )


@pytest.mark.parametrize(
    "kinds",
    [{"sparse": True}, {"sparse": True, "dense": True}, {"sparse": False, "dense": True}],
    ids=["sparse", "sparse+dense", "dense"],
)
@pytest.mark.parametrize("count", [1, 5])
def test_feature_matrix_is_rasas_exactly(classifier, kinds, count):
    messages = [featurised(seed, **kinds) for seed in range(count)]
    ours = classifier._create_X(messages)
    rasas = LogisticRegressionClassifier._create_X(classifier, messages)
    assert ours.shape == rasas.shape
    assert (sp.csr_matrix(ours) != sp.csr_matrix(rasas)).nnz == 0
