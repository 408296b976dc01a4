"""Prompt building shared by every backend: the model's own chat template, few-shot turns,
and the tokenizer (loaded without remote code). Backends only ever see token ids, so both
generate from exactly the same prompts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .items import LETTERS, Item

INSTRUCTIONS = {
    "gsm8k": "Solve the math problem step by step. End with the final answer as a number on its own line: "
             "#### <number>",
    "aime": "Solve the problem. Give the final answer, an integer from 0 to 999, in \\boxed{}.",
    "multiple_choice": "Choose the correct option. End with: The answer is (X), where X is the option's letter.",
    "bfcl": "You can call the functions described below. Answer only with the call(s), in Python syntax: "
            "[func_name(arg1=value1, arg2=value2)]",
    "humaneval": "Complete the Python function below. Answer with the whole function in one ```python block.",
}


@dataclass
class Tokenizer:
    """The model's tokenizer plus the token ids that end a completion."""

    tok: Any
    stop_ids: list[int]
    pad_id: int

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tok, "chat_template", None))

    def encode(self, text: str, special: bool = False) -> list[int]:
        return list(self.tok(text, add_special_tokens=special)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        return str(self.tok.decode(ids, skip_special_tokens=True))


def load_tokenizer(model_dir: Path) -> Tokenizer:
    """AutoTokenizer without remote code; stop ids from generation_config.json and the
    tokenizer's own end tokens (ChatML's <|im_end|> included)."""
    from transformers import AutoTokenizer

    from .modeldir import ModelDirError

    try:
        tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exceptions on bad files
        raise ModelDirError(f"model directory refused: {model_dir}: the tokenizer cannot be loaded: "
                            f"{str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}") from None
    stops: list[int] = []
    gen = model_dir / "generation_config.json"
    if gen.is_file():
        eos = json.loads(gen.read_text()).get("eos_token_id")
        stops += [eos] if isinstance(eos, int) else [e for e in (eos or []) if isinstance(e, int)]
    if tok.eos_token_id is not None:
        stops.append(int(tok.eos_token_id))
    for special in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
        tid = tok.convert_tokens_to_ids(special)
        if isinstance(tid, int) and tid != tok.unk_token_id and tid >= 0:
            stops.append(tid)
    stops = sorted(set(stops))
    pad = tok.pad_token_id if tok.pad_token_id is not None else (stops[0] if stops else 0)
    return Tokenizer(tok, stops, int(pad))


def user_text(kind: str, item: Item) -> str:
    if kind == "multiple_choice":
        opts = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(item.extra["choices"]))
        return f"{item.question}\n\n{opts}"
    if kind == "bfcl":
        return f"Functions:\n{json.dumps(item.extra.get('functions', []), indent=1)}\n\nRequest: {item.question}"
    return item.question


def answer_text(kind: str, item: Item) -> str:
    """A few-shot example's assistant turn, in the form the scorer extracts."""
    if kind == "gsm8k":
        ref = str(item.reference)
        return ref if "####" in ref else f"#### {ref}"
    if kind == "aime":
        return f"\\boxed{{{item.reference}}}"
    if kind == "multiple_choice":
        return f"The answer is ({item.reference})."
    if kind == "bfcl":
        calls = []
        for exp in item.reference:
            (name, args), = exp.items()
            kv = ", ".join(f"{k}={v[0]!r}" for k, v in args.items() if v and v[0] != "")
            calls.append(f"{name}({kv})")
        return "[" + ", ".join(calls) + "]"
    return f"```python\n{item.question}{item.extra.get('canonical_solution', '    pass')}\n```"


def build_prompt(tk: Tokenizer, kind: str, item: Item, shots: list[Item]) -> list[int]:
    """Token ids of the prompt: the chat template when the model has one (few-shot as
    earlier turns), else plain "Question:/Answer:" text (HumanEval: the bare prompt)."""
    if tk.has_chat_template:
        msgs: list[dict[str, str]] = [{"role": "system", "content": INSTRUCTIONS[kind]}]
        for s in shots:
            msgs += [{"role": "user", "content": user_text(kind, s)},
                     {"role": "assistant", "content": answer_text(kind, s)}]
        msgs.append({"role": "user", "content": user_text(kind, item)})
        text = tk.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return tk.encode(str(text))
    if kind == "humaneval":
        return tk.encode(item.question, special=True)
    parts = [INSTRUCTIONS[kind]] + [f"Question: {user_text(kind, s)}\nAnswer: {answer_text(kind, s)}" for s in shots]
    parts.append(f"Question: {user_text(kind, item)}\nAnswer:")
    return tk.encode("\n\n".join(parts), special=True)
