"""Small fakes for unit tests: a tiny random Llama and a character-level tokenizer.

The model is a real transformers LlamaForCausalLM (two layers, 32-wide) built from a config, so the
scoring code runs its real path; only the weights are random. Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

import torch

from backends.models import CAUSAL_LM, LOCAL, LoadedModel, ModelSpec

CHARS = "abcdefghijklmnopqrstuvwxyz .,!?'0123456789"


def char_tokenizer():
    """A fast tokenizer with one id per character (plus <pad>=0, <s>=1, </s>=2, <unk>=3)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({c: i + 4 for i, c in enumerate(CHARS)})
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def tiny_llama(vocab_size: int = len(CHARS) + 4, seed: int = 0, hidden: int = 32, layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return LlamaForCausalLM(cfg).eval()


def tiny_lm(seed: int = 0) -> LoadedModel:
    """A LoadedModel around the tiny Llama, as the registry would return it."""
    model = tiny_llama(seed=seed)
    spec = ModelSpec("tiny-llama", CAUSAL_LM, LOCAL, "/nonexistent", description="unit-test model")
    n = sum(p.numel() for p in model.parameters())
    return LoadedModel(spec, model, char_tokenizer(), "cpu", "float32", n, n * 4, 0.0, "folder")


def save_tiny_folder(folder: Path, **sizes) -> Path:
    """Write the tiny Llama and its tokenizer as a transformers folder (stands in for a hub snapshot)."""
    tiny_llama(**sizes).save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return folder
