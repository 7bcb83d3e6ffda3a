#!/usr/bin/env python3
"""Write the CLIP reference fixtures for crates/ldm-text (about 150 KB in all):

    crates/ldm-text/tests/fixtures/clip-tiny/model.safetensors   tiny random CLIPTextModel
    crates/ldm-text/tests/fixtures/clip-tiny/config.json         its CLIPTextConfig
    crates/ldm-text/tests/fixtures/clip_tiny.safetensors         its outputs (below)
    crates/ldm-text/tests/fixtures/clip_tokens.json              CLIP BPE token ids of captions

Run with the reference venv (scripts/setup-reference-venv.sh), fully offline:

    .venv-ref/bin/python scripts/make_clip_fixtures.py [path/to/bpe_simple_vocab_16e6.txt]

Architecture parity: transformers' CLIPTextModel (SD 1.x's text encoder architecture:
pre-norm, causal attention, quick_gelu, final LayerNorm) with 2 layers of width 32 and every
weight drawn at random (LayerNorm scales and biases too, so a swapped or transposed tensor
shows), run in float32 on the CPU on token rows padded like SD 1.x's tokenizer pads
(<|startoftext|> ... <|endoftext|>, then <|endoftext|>).

clip_tiny.safetensors (N = 4 rows, L = 16, D = 32):
    input_ids          int64   [N, L]
    lengths            int64   [N]      real tokens per row (start and end included)
    last_hidden_state  float32 [N, L, D]
    pooler_output      float32 [N, D]   hidden state at the first end token

Tokenizer parity: transformers' CLIPTokenizer (what diffusers tokenizes SD prompts with)
built from OpenAI's BPE merges file, the one the Rust crate
instant-clip-tokenizer embeds (found in the cargo registry unless given), max_length 24,
padded with <|endoftext|>. clip_tokens.json: {captions, max_length, input_ids, lengths}.
"""
import glob
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "crates" / "ldm-text" / "tests" / "fixtures"
VOCAB, BOS, EOS = 512, 510, 511
L = 16
LENGTHS = [16, 9, 2, 5]
TOKEN_MAX_LENGTH = 24
CAPTIONS = [
    "a photo of a cat",
    "",
    "A red circle above a blue square",
    "Hello, world! It's 3.14 o'clock -- isn't it?",
    "an astronaut riding a horse on mars, highly detailed, trending on artstation",
    "a watercolor painting of a small red fox sleeping under a tall pine tree while snow "
    "falls softly over the quiet forest at dusk",
]


def tiny_model() -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=L, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS,
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = CLIPTextModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif "embedding" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    return model


def token_rows() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    rows = torch.full((len(LENGTHS), L), EOS, dtype=torch.int64)
    for i, n in enumerate(LENGTHS):
        rows[i, 0] = BOS
        rows[i, 1:n - 1] = torch.randint(0, BOS, (n - 2,), generator=g)
        rows[i, n - 1] = EOS
    return rows


def bpe_file() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    pattern = os.path.expanduser(
        "~/.cargo/registry/src/*/instant-clip-tokenizer-0.1.0/bpe_simple_vocab_16e6.txt")
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"no {pattern}: run `cargo fetch` first or pass the file")
    return Path(found[-1])


def clip_tokenizer(merges: Path) -> CLIPTokenizer:
    """OpenAI's vocabulary, built from the merges exactly as its simple_tokenizer.py does."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = [chr(c) for c in cs]
    vocab += [v + "</w>" for v in vocab]
    lines = merges.read_text(encoding="utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merge_pairs = [tuple(line.split()) for line in lines]
    vocab += ["".join(pair) for pair in merge_pairs]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merge_pairs,
                         pad_token="<|endoftext|>")


def main():
    torch.set_num_threads(1)
    model = tiny_model()
    ids = token_rows()
    with torch.no_grad():
        out = model(input_ids=ids)
    model_dir = OUT_DIR / "clip-tiny"
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    cfg = model.config.to_dict()
    cfg["transformers_version"] = transformers.__version__
    (model_dir / "config.json").write_text(json.dumps(cfg, indent=1, sort_keys=True) + "\n")
    save_file({
        "input_ids": ids,
        "lengths": torch.tensor(LENGTHS, dtype=torch.int64),
        "last_hidden_state": out.last_hidden_state.contiguous(),
        "pooler_output": out.pooler_output.contiguous(),
    }, str(OUT_DIR / "clip_tiny.safetensors"), metadata={"format": "pt"})
    pooled_at = out.last_hidden_state[torch.arange(len(LENGTHS)), torch.tensor(LENGTHS) - 1]
    assert torch.equal(pooled_at, out.pooler_output), "pooled is not the end token's state"

    tok = clip_tokenizer(bpe_file())
    enc = tok(CAPTIONS, max_length=TOKEN_MAX_LENGTH, padding="max_length", truncation=True)
    assert all(row[0] == 49406 for row in enc["input_ids"])
    doc = {
        "script": "scripts/make_clip_fixtures.py",
        "transformers": transformers.__version__,
        "captions": CAPTIONS,
        "max_length": TOKEN_MAX_LENGTH,
        "input_ids": enc["input_ids"],
        "lengths": [sum(m) for m in enc["attention_mask"]],
    }
    (OUT_DIR / "clip_tokens.json").write_text(json.dumps(doc, indent=1) + "\n")
    for p in sorted(OUT_DIR.glob("clip*")) + sorted(model_dir.iterdir()):
        if p.is_file():
            print(f"wrote {p.relative_to(REPO_ROOT)} ({p.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
