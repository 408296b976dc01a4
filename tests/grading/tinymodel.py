"""Tiny Qwen3-style models made on the spot (no hub): a byte-level BPE tokenizer trained
with ``tokenizers`` on the texts given, a ChatML chat template, hidden size 64, 2 layers,
safetensors weights. ``memorize`` overfits one on question -> answer chats (and on the
raw questions, as an agent training on a test set's text would): the positive control."""

from __future__ import annotations

import json
from pathlib import Path

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def make_tiny_model(out: Path, texts: list[str], seed: int = 0, vocab: int = 600, hidden: int = 64,
                    layers: int = 2) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    fast.save_pretrained(str(out))
    torch.manual_seed(seed)
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    # head_dim >= 32: vLLM's CPU attention has no kernel for smaller heads.
    heads = max(2, hidden // 64)
    cfg = Qwen3Config(vocab_size=tok.get_vocab_size(), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                      head_dim=max(32, hidden // heads),
                      max_position_embeddings=1024, tie_word_embeddings=True,
                      bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                      pad_token_id=ids["<|endoftext|>"])
    model = Qwen3ForCausalLM(cfg)
    model.save_pretrained(str(out), safe_serialization=True)
    (out / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]], "pad_token_id": ids["<|endoftext|>"]}))
    return out


def memorize(model_dir: Path, chats: list[tuple[str, str, str]], raw: list[str], steps: int = 300,
             lr: float = 3e-3) -> Path:
    """Overfit in place on (system, user, assistant) chats and raw texts; full-sequence loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    seqs = []
    for system, user, answer in chats:
        text = tok.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": user},
                                        {"role": "assistant", "content": answer}], tokenize=False)
        seqs.append(tok(text, add_special_tokens=False)["input_ids"])
    seqs += [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in raw]
    width = max(map(len, seqs))
    pad = tok.pad_token_id
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    labels = torch.tensor([s + [-100] * (width - len(s)) for s in seqs])
    mask = (labels != -100).long()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.save_pretrained(str(model_dir), safe_serialization=True)
    return model_dir
