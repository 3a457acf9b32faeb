#!/usr/bin/env python3
"""Makes the MLX-format test models offline, from files in this repository and a fixed seed.

    python make-mlx-models.py OUT_DIR

Run with the Python of the venv that scripts/setup-mlx.sh makes (it needs mlx, numpy and
tokenizers, all installed with mlx-lm). Writes two model directories that mlx_lm loads:

- OUT_DIR/stories260K: test/fixtures/models/stories260K.gguf (TinyStories 260K, a trained llama)
  converted to config.json + model.safetensors + tokenizer.json. llama.cpp's converter stores the
  Q and K projections in the interleaved rotary layout of Meta's checkpoints; they are put back in
  the half-split layout mlx_lm's llama (rope_traditional false) expects. The 512-token
  SentencePiece vocabulary becomes a byte-fallback BPE tokenizer whose merges follow the piece
  scores, which is how SentencePiece's BPE picks its merges. The GGUF file has no chat template;
  a plain one is added (the messages' text, one per line), so chat answers are story text.
- OUT_DIR/slow: a llama of the same vocabulary with random weights from a fixed seed, large
  enough that a long prompt takes seconds of prefill and a token tens of milliseconds on two CPU
  cores: real slowness for the liveness tests. Its text is gibberish.

Each directory is written under a temporary name and renamed when whole, so a half-written model
is never taken for a made one.
"""
import json
import os
import shutil
import sys

import mlx.core as mx
import numpy as np
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

HERE = os.path.dirname(os.path.abspath(__file__))
GGUF = os.path.join(HERE, "..", "test", "fixtures", "models", "stories260K.gguf")

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{% if not loop.last %}\n{% endif %}{% endfor %}"
)

# Token types in a GGUF vocabulary (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def scalar(value):
    return value.item() if hasattr(value, "item") else value


def unpermute(weight, heads):
    """Inverse of llama.cpp's rotary permutation: interleaved pairs back to two halves per head."""
    rows, cols = weight.shape
    return weight.reshape(heads, rows // heads // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def tokenizer_json(tokens, scores, types):
    vocab = {token: index for index, token in enumerate(tokens)}
    # SentencePiece BPE merges the adjacent pair whose joined piece scores highest: every piece
    # that two others join to make becomes a merge, ranked by that piece's score.
    mergeable = {token for token, kind in zip(tokens, types) if kind in (NORMAL, USER_DEFINED)}
    merges = []
    for joined in mergeable:
        for cut in range(1, len(joined)):
            left, right = joined[:cut], joined[cut:]
            if left in mergeable and right in mergeable:
                merges.append((-float(scores[vocab[joined]]), vocab[left], vocab[right], left, right))
    merges.sort()
    model = models.BPE(
        vocab=vocab,
        merges=[(left, right) for *_, left, right in merges],
        unk_token="<unk>",
        byte_fallback=True,
        fuse_unk=True,
    )
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    special = [token for token, kind in zip(tokens, types) if kind == CONTROL or token == "<unk>"]

    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in special])
    return tokenizer


def write_tokenizer(directory, tokenizer, bos, eos, unk):
    tokenizer.save(os.path.join(directory, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 2048,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as out:
        json.dump(config, out, indent=2)
    # The template adds <s> itself; the post-processor adds it to plain prompts (/v1/completions).
    with open(os.path.join(directory, "tokenizer.json")) as source:
        data = json.load(source)
    bos_id = data["model"]["vocab"][bos]
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}}],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }
    with open(os.path.join(directory, "tokenizer.json"), "w") as out:
        json.dump(data, out, ensure_ascii=False)


def llama_config(hidden, layers, heads, kv_heads, ffn, vocab, context, eps, eos_id, bos_id):
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": context,
        "rms_norm_eps": eps,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
    }


def in_place(out_dir, name, build):
    final = os.path.join(out_dir, name)
    if os.path.exists(os.path.join(final, "config.json")):
        return final
    partial = final + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    build(partial)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(partial, final)
    return final


def read_gguf():
    weights, meta = mx.load(GGUF, return_metadata=True)
    tokens = list(meta["tokenizer.ggml.tokens"])
    scores = np.array(meta["tokenizer.ggml.scores"])
    types = np.array(meta["tokenizer.ggml.token_type"]).tolist()
    return weights, meta, tokens, scores, types


def make_stories(directory):
    weights, meta, tokens, scores, types = read_gguf()
    heads = scalar(meta["llama.attention.head_count"])
    kv_heads = scalar(meta["llama.attention.head_count_kv"])
    layers = scalar(meta["llama.block_count"])
    names = {
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
    }
    out = {
        "model.embed_tokens.weight": weights["token_embd.weight"],
        "model.norm.weight": weights["output_norm.weight"],
        "lm_head.weight": weights["output.weight"],
    }
    for layer in range(layers):
        for gguf_name, hf_name in names.items():
            weight = weights[f"blk.{layer}.{gguf_name}.weight"]
            if gguf_name == "attn_q":
                weight = unpermute(weight, heads)
            elif gguf_name == "attn_k":
                weight = unpermute(weight, kv_heads)
            out[f"model.layers.{layer}.{hf_name}.weight"] = weight
    mx.save_safetensors(os.path.join(directory, "model.safetensors"), out, metadata={"format": "mlx"})
    bos_id = scalar(meta["tokenizer.ggml.bos_token_id"])
    eos_id = scalar(meta["tokenizer.ggml.eos_token_id"])
    config = llama_config(
        hidden=scalar(meta["llama.embedding_length"]),
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        ffn=scalar(meta["llama.feed_forward_length"]),
        vocab=len(tokens),
        context=scalar(meta["llama.context_length"]),
        eps=scalar(meta["llama.attention.layer_norm_rms_epsilon"]),
        eos_id=eos_id,
        bos_id=bos_id,
    )
    with open(os.path.join(directory, "config.json"), "w") as out_file:
        json.dump(config, out_file, indent=2)
    write_tokenizer(directory, tokenizer_json(tokens, scores, types), tokens[bos_id], tokens[eos_id], tokens[0])
    with open(os.path.join(directory, "README.md"), "w") as note:
        note.write(
            "stories260K in MLX format, made by mlx-guard's scripts/make-mlx-models.py from\n"
            "test/fixtures/models/stories260K.gguf (TinyStories 260K by Andrej Karpathy, MIT; GGUF by ggml-org).\n"
            "Q/K projections un-permuted from llama.cpp's rotary layout; tokenizer.json rebuilt from the\n"
            "GGUF vocabulary; the chat template is added by mlx-guard (the model has none): it joins the\n"
            "messages' text, one per line, after <s>.\n"
        )


SLOW = {"hidden": 512, "layers": 4, "heads": 8, "kv_heads": 4, "ffn": 1536, "seed": 20261206}


def make_slow(directory):
    _, meta, tokens, scores, types = read_gguf()
    bos_id = scalar(meta["tokenizer.ggml.bos_token_id"])
    eos_id = scalar(meta["tokenizer.ggml.eos_token_id"])
    hidden, ffn, heads, kv_heads = SLOW["hidden"], SLOW["ffn"], SLOW["heads"], SLOW["kv_heads"]
    head_dim = hidden // heads
    mx.random.seed(SLOW["seed"])

    def dense(rows, cols):
        return (mx.random.normal((rows, cols)) * (cols**-0.5))

    # A zero row gives </s> a logit of 0 while the best of the other 511 random logits is about
    # three deviations above it: greedy decoding never ends an answer early, so a test's answer
    # is as long as it asks.
    head = dense(len(tokens), hidden)
    head[eos_id] = 0
    out = {
        "model.embed_tokens.weight": dense(len(tokens), hidden),
        "model.norm.weight": mx.ones((hidden,)),
        "lm_head.weight": head,
    }
    for layer in range(SLOW["layers"]):
        prefix = f"model.layers.{layer}"
        out[f"{prefix}.self_attn.q_proj.weight"] = dense(heads * head_dim, hidden)
        out[f"{prefix}.self_attn.k_proj.weight"] = dense(kv_heads * head_dim, hidden)
        out[f"{prefix}.self_attn.v_proj.weight"] = dense(kv_heads * head_dim, hidden)
        out[f"{prefix}.self_attn.o_proj.weight"] = dense(hidden, heads * head_dim)
        out[f"{prefix}.mlp.gate_proj.weight"] = dense(ffn, hidden)
        out[f"{prefix}.mlp.up_proj.weight"] = dense(ffn, hidden)
        out[f"{prefix}.mlp.down_proj.weight"] = dense(hidden, ffn)
        out[f"{prefix}.input_layernorm.weight"] = mx.ones((hidden,))
        out[f"{prefix}.post_attention_layernorm.weight"] = mx.ones((hidden,))
    mx.save_safetensors(os.path.join(directory, "model.safetensors"), out, metadata={"format": "mlx"})
    config = llama_config(hidden, SLOW["layers"], heads, kv_heads, ffn, len(tokens), 8192, 1e-5, eos_id, bos_id)
    with open(os.path.join(directory, "config.json"), "w") as out_file:
        json.dump(config, out_file, indent=2)
    write_tokenizer(directory, tokenizer_json(tokens, scores, types), tokens[bos_id], tokens[eos_id], tokens[0])
    with open(os.path.join(directory, "README.md"), "w") as note:
        note.write(
            f"A llama with random weights (seed {SLOW['seed']}), made by mlx-guard's scripts/make-mlx-models.py for\n"
            f"liveness tests that need real slowness: {json.dumps(SLOW)}. The tokenizer is stories260K's.\n"
        )


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-mlx-models.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name, build in (("stories260K", make_stories), ("slow", make_slow)):
        print(in_place(out_dir, name, build))


if __name__ == "__main__":
    main()
