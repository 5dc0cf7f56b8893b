"""The sentence encoder (bot/nlp/sentence_encoder.py): the same token ids and embeddings as
sentence-transformers gives for all-MiniLM-L6-v2, and clear errors when its files are wrong."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from bot.nlp import sentence_encoder
from bot.nlp.sentence_encoder import EncoderMissing, SentenceEncoder, WordPieceTokenizer

REFERENCE = Path(__file__).parents[3] / "data" / "sentence_encoder_reference.json"


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["items"]


@pytest.fixture(scope="module")
def encoder():
    return sentence_encoder.get_encoder()


def test_token_ids_match_the_reference_tokenizer(encoder, reference):
    """Accents, Spanish, emoji, HTML, CJK, empty and blank texts, and truncation at 256."""
    for item in reference:
        assert encoder.tokenizer.encode(item["text"]) == item["input_ids"], item["text"][:40]
    assert max(len(item["input_ids"]) for item in reference) == sentence_encoder.MAX_TOKENS


def test_embeddings_match_sentence_transformers(encoder, reference):
    texts = [item["text"] for item in reference]
    expected = np.array([item["embedding"] for item in reference], dtype=np.float32)
    batched = encoder.encode(texts)
    assert batched.shape == (len(texts), sentence_encoder.DIMENSION)
    assert np.abs(batched - expected).max() < 1e-5
    fresh = SentenceEncoder(sentence_encoder.model_dir())
    one_by_one = np.vstack([fresh.encode([text]) for text in texts])
    assert np.abs(one_by_one - expected).max() < 1e-5, "padding in a batch changes nothing"
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_repeated_texts_are_run_once_and_keep_their_rows(encoder):
    texts = ["what is a nerve block", "what is a nerve block", "is it safe"]
    first = encoder.encode(texts)
    assert "is it safe" not in encoder._memo, "a chat message does not grow the memo"
    assert np.array_equal(first[0], first[1]) and not np.array_equal(first[0], first[2])
    assert np.array_equal(encoder.encode(texts[::-1]), first[::-1])
    assert encoder.encode([]).shape == (0, sentence_encoder.DIMENSION)


def test_meaning_not_spelling_decides_what_is_near(encoder):
    """Why the classifiers use it: a crisis said without any crisis word is nearer a crisis
    than a question about the procedure that shares its words."""
    crisis, veiled, question = encoder.encode(
        [
            "I want to kill myself",
            "I don't want to wake up tomorrow",
            "will I wake up during the injection?",
        ]
    )
    assert float(veiled @ crisis) > float(question @ crisis)


def test_wordpiece_longest_match_unknown_and_long_words():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "run", "##ning", ",", "."]
    tokenizer = WordPieceTokenizer(vocab)
    assert tokenizer.encode("Unaffable, RUNNING.") == [2, 4, 5, 6, 9, 7, 8, 10, 3]
    assert tokenizer.encode("xyz run") == [2, 1, 7, 3], "a word with no pieces is one [UNK]"
    assert tokenizer.encode("r" * 101) == [2, 1, 3], "words over 100 characters are [UNK]"
    assert tokenizer.encode("run " * 20, max_tokens=6) == [2, 7, 7, 7, 7, 3]


def _safetensors(path: Path, tensors: dict) -> None:
    header, body = {}, b""
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [len(body), len(body) + len(data)],
        }
        body += data
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + body)


def test_read_safetensors_reads_shapes_and_values(tmp_path):
    path = tmp_path / "t.safetensors"
    _safetensors(path, {"a": np.arange(6.0).reshape(2, 3), "b": np.ones(4)})
    tensors = sentence_encoder.read_safetensors(path)
    assert tensors["a"].shape == (2, 3) and tensors["a"][1, 2] == 5.0
    assert tensors["b"].tolist() == [1.0] * 4
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(EncoderMissing, match="too short"):
        sentence_encoder.read_safetensors(tmp_path / "short")


def test_other_weights_are_refused_by_their_hash(tmp_path):
    _safetensors(tmp_path / "model.safetensors", {"embeddings.word_embeddings.weight": np.ones((2, 2))})
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", encoding="utf-8")
    with pytest.raises(EncoderMissing, match="not the all-MiniLM-L6-v2 weights"):
        SentenceEncoder(tmp_path)
    (tmp_path / "vocab.txt").unlink()
    with pytest.raises(EncoderMissing, match="vocab.txt is missing: run `make install`"):
        SentenceEncoder(tmp_path)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(sentence_encoder.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EncoderMissing, match="make install"):
        sentence_encoder.model_dir()


def test_large_batches_share_a_disk_cache_between_processes(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "embeddings.npz"
    texts = [f"question number {i} about the injection" for i in range(sentence_encoder._DISK_BATCH)]
    first = SentenceEncoder(sentence_encoder.model_dir(), cache=sentence_encoder.DiskCache(path))
    expected = first.encode(texts)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    second = SentenceEncoder(sentence_encoder.model_dir(), cache=sentence_encoder.DiskCache(path))

    def not_again(batch):
        raise AssertionError(f"encoded {len(batch)} texts the cache holds")

    monkeypatch.setattr(second, "_forward", not_again)
    assert np.array_equal(second.encode(texts), expected)
    # A short batch (a chat message) never reads the file.
    third = SentenceEncoder(sentence_encoder.model_dir(), cache=sentence_encoder.DiskCache(path))
    third.encode(texts[:3])
    assert third.cache._entries is None
    monkeypatch.setenv(sentence_encoder.CACHE_ENV_VAR, str(path))
    assert sentence_encoder.get_encoder.__wrapped__().cache.path == path
    # Another model's file is ignored.
    monkeypatch.setattr(sentence_encoder, "WEIGHTS_SHA256", "0" * 64)
    assert sentence_encoder.DiskCache(path).entries() == {}
