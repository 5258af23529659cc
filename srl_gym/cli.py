"""The ``srl-gym`` command line: list, show, play, export, generate, serve, train and compare."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from srl_gym.algorithms import algorithms, get_algorithm
from srl_gym.env import ReasoningEnv
from srl_gym.registration import TASKS, task_entry
from srl_gym.trajectory import iter_expert_trajectories, write_jsonl


def _task_options(args: argparse.Namespace) -> dict:
    options = {"difficulty": args.difficulty}
    if getattr(args, "path", None):
        options["path"] = args.path
    return options


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    if args.markdown:
        out.write("| id | domain | difficulty levels | an expert step |\n|---|---|---|---|\n")
    for entry in TASKS:
        cls = entry.load()
        if args.markdown:
            task = cls()
            steps = next(iter_expert_trajectories(task, [0])).steps
            levels = "<br>".join(f"{i}: {text}" for i, text in enumerate(cls.levels)).replace("|", "\\|")
            example = steps[0].text.replace("|", "\\|")
            out.write(f"| `{entry.env_id}` | {entry.domain} | {levels} | `{example}` |\n")
            continue
        out.write(f"{entry.env_id:28} {entry.domain:9} {len(cls.levels)} levels\n")
        if args.verbose:
            for level, text in enumerate(cls.levels):
                out.write(f"    difficulty={level}: {text}\n")
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    entry = task_entry(args.env_id)
    task = entry.load()(**_task_options(args))
    traj = next(iter_expert_trajectories(task, [args.seed], split=args.split))
    out.write(
        f"{entry.env_id}  difficulty={args.difficulty} ({task.levels[args.difficulty]})  seed={args.seed}  "
        f"split={args.split}\n\n{traj.problem}\n\nExpert trajectory ({len(traj.steps)} steps):\n"
    )
    for i, step in enumerate(traj.steps, 1):
        out.write(f"  Step {i}: {step.text}\n")
    out.write(f"\nAnswer: {traj.answer}\n" if "\n" not in (traj.answer or "") else "")
    return 0


#: ``export --unit``: what one row of a ``--format hf`` dataset is (`srl_gym.datasets.step_dataset`
#: or `srl_gym.datasets.solution_dataset`).
EXPORT_UNITS = ("step", "solution")


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    if args.format == "hf":
        return _export_dataset(args, out)
    task = task_entry(args.env_id).load()(**_task_options(args))
    seeds = range(args.seed, args.seed + args.n)
    count = write_jsonl(iter_expert_trajectories(task, seeds, split=args.split), args.output)
    out.write(f"wrote {count} expert trajectories of {args.env_id} to {args.output}\n")
    return 0


def _export_dataset(args: argparse.Namespace, out: TextIO) -> int:
    """``export --format hf``: `srl_gym.datasets`' step or solution dataset, saved with `save_dataset`."""
    if importlib.util.find_spec("datasets") is None:
        raise ValueError("--format hf needs Hugging Face datasets: pip install 'srl-gym[agents]' (or datasets)")
    from srl_gym import datasets

    datasets.check_save_dir(args.output)  # before the build, which may take a while
    unit = args.unit or "solution"
    env_id = task_entry(args.env_id).env_id  # the builders take the full id (gym.spec)
    build = datasets.step_dataset if unit == "step" else datasets.solution_dataset
    data = build(env_id, args.n, split=args.split, start_seed=args.seed, **_task_options(args))
    datasets.save_dataset(data, args.output)
    rows = "step instances" if unit == "step" else "problems"
    out.write(f"wrote {len(data)} {rows} of {env_id} to {args.output} (datasets.load_from_disk reads it)\n")
    return 0


def check_export_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot check flag by flag in ``export``: a usage error (exit 2) naming the fix."""
    if args.unit is not None and args.format != "hf":
        fix = "add --format hf, or drop --unit to write JSONL"
        parser.error(f"--unit {args.unit} is for --format hf (a Hugging Face dataset); {fix}")


def cmd_play(args: argparse.Namespace, out: TextIO, inp: TextIO = sys.stdin) -> int:
    env = ReasoningEnv(
        task_entry(args.env_id).path,
        teacher_forcing=args.teacher_forcing,
        reward=args.reward,
        split=args.split,
        **_task_options(args),
    )
    obs, info = env.reset(seed=args.seed)
    out.write("Type one step per line. ':hint' shows the expert's step, ':quit' stops.\n\n" + obs + "\n")
    total = 0.0
    while True:
        out.write("step> ")
        out.flush()
        line = inp.readline()
        if not line or line.strip() == ":quit":
            out.write("\nbye\n")
            return 0
        if line.strip() == ":hint":
            out.write(f"expert's step: {info['expert_step']}\n")
            continue
        obs, reward, terminated, truncated, info = env.step(line.rstrip("\n"))
        total += reward
        out.write(
            f"reward {reward:+.3f}  similarity {info['step_similarity']:.3f}  "
            f"{'valid' if info['valid'] else 'INVALID (state unchanged)'}\n"
        )
        if terminated or truncated:
            verdict = "solved" if info["solved"] else ("truncated" if truncated else "not solved")
            out.write(f"\nEpisode over: {verdict}; return {total:+.3f}; answer: {info['answer']}\n")
            return 0
        out.write(f"\n{obs}\n")
        if args.show_expert:
            out.write(f"(expert's next step: {info['expert_step']})\n")


def cmd_generate(args: argparse.Namespace, out: TextIO) -> int:
    """``srl-gym generate``: model-written solutions kept when the verifier accepts them (`srl_gym.agents.generate`)."""
    try:
        from srl_gym.agents import generate
        from srl_gym.agents.models import require_agents_extra

        require_agents_extra()
    except ImportError as exc:  # no torch or transformers: say how to install them
        raise ValueError(str(exc)) from None
    return generate.run(args, out)


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """``srl-gym serve ID``: an OpenEnv environment server (`srl_gym.adapters.openenv`)."""
    try:
        openenv_adapter = importlib.import_module("srl_gym.adapters.openenv")  # (sys.modules, not a package attribute)
    except ImportError as exc:  # no openenv-core: say how to install it
        raise ValueError(str(exc)) from None
    options = {"difficulty": args.difficulty, "split": args.split, "path": args.path}
    options = {k: v for k, v in options.items() if v is not None}
    if args.max_sessions < 1:
        raise ValueError(f"--max-sessions must be at least 1, got {args.max_sessions}")
    try:
        openenv_adapter.serve(
            args.env_id,
            host=args.host,
            port=args.port,
            max_sessions=args.max_sessions,
            exit_after=args.exit_after,
            announce=lambda line: (out.write(line + "\n"), out.flush()),
            **options,
        )
    except OSError as exc:  # the port is taken, the host is not ours, ...
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0


def trainable_algorithms() -> dict[str, Any]:
    """``srl-gym train NAME``: every registered algorithm with a command line (`srl_gym.algorithms`).

    Controls are rows of a comparison, not algorithms of their own (``control-sft`` is ``srl-gym train sft``
    with the comparison's ``control_updates`` and ``control_learning_rate``)."""
    return {name: spec for name, spec in algorithms().items() if spec.trainable and spec.control is None}


def cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    return get_algorithm(args.algo).main(args.algo_args, prog=f"srl-gym train {args.algo}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srl-gym",
        description="Reasoning tasks as step-wise Gymnasium environments (Supervised RL, SFT, RLVR).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the registered tasks with their domain and difficulty levels")
    p.add_argument("-v", "--verbose", action="store_true", help="describe every difficulty level")
    p.add_argument("--markdown", action="store_true", help="a Markdown table with an example step per task")
    p.set_defaults(func=cmd_list)

    def problem_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("env_id", help="a task id such as srl/Hanoi-v0 (or just Hanoi); see `srl-gym list`")
        p.add_argument("--seed", type=int, default=0, help="problem seed, as in env.reset(seed=...) (default 0)")
        p.add_argument("--difficulty", type=int, default=0, help="difficulty level, 0 the easiest (default 0)")
        p.add_argument("--split", choices=("train", "test"), default="train", help="problem split (default train)")
        p.add_argument("--path", help="srl/Trajectories-v0 only: your JSONL file of trajectories")

    p = sub.add_parser("show", help="print a problem and its expert trajectory")
    problem_args(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("play", help="solve a problem yourself, step by step, and see the reward")
    problem_args(p)
    p.add_argument("--reward", choices=("srl", "outcome", "mixed"), default="srl", help="reward (default srl)")
    p.add_argument("--teacher-forcing", action="store_true", help="append the expert's step after each of yours")
    p.add_argument("--show-expert", action="store_true", help="print the expert's next step after each step")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser(
        "export",
        help="write expert trajectories as JSONL (one problem per seed) or a Hugging Face dataset",
        description="Write the expert trajectories of seeds SEED..SEED+n-1: as JSONL (one problem per seed), or "
        "with --format hf as a Hugging Face dataset directory for datasets.load_from_disk, with TRL's "
        "prompt/completion columns and the problem's env_id, seed, difficulty and split (each distinct "
        "problem once; see srl_gym.datasets).",
    )
    problem_args(p)
    p.add_argument("-n", type=int, required=True, help="number of trajectories (seeds SEED..SEED+n-1)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="the JSONL file to write, or with --format hf a new (or empty) directory; written atomically",
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "hf"),
        default="jsonl",
        help="jsonl: one trajectory per line (default); hf: a datasets.Dataset saved with save_to_disk",
    )
    p.add_argument(
        "--unit",
        choices=EXPORT_UNITS,
        help="--format hf only: what one row is; step: a step instance [problem, y_1..y_k-1] -> y_k "
        "(srl_gym.datasets.step_dataset); solution: a problem and the expert's whole solution "
        "(solution_dataset; the default)",
    )
    p.set_defaults(func=cmd_export, check=functools.partial(check_export_args, p))

    p = sub.add_parser(
        "generate",
        help="expert trajectories written by a language model, kept when the task's verifier accepts them",
        description="Sample whole solutions from a local causal LM for the problems of seeds SEED..SEED+n-1 of the "
        "split (train by default; a problem that several seeds give is asked once) and keep those that close "
        "</think>, whose steps ('Step k:' lines) all parse and apply when played in the env on-policy, and that the "
        "task's verifier accepts; at most --keep per problem. Writes them as JSONL for srl/Trajectories-v0 "
        "(atomically), the acceptance rate and the rejection reasons to OUTPUT.summary.json beside it, and prints the "
        "summary. Exits 1 when nothing was accepted (the file is written, empty). See srl_gym.agents.generate.",
    )
    p.add_argument("model", help="'tiny', 'tiny-longmul', 'smollm2-135m' or a local Hugging Face model directory")
    p.add_argument("--env-id", required=True, help="the task, e.g. srl/LongMultiplication-v0 (see `srl-gym list`)")
    p.add_argument("-n", type=int, required=True, help="number of problem seeds (SEED..SEED+n-1)")
    p.add_argument("-o", "--output", required=True, help="the JSONL file to write (atomically)")
    p.add_argument("--seed", type=int, default=0, help="the first problem seed (default 0)")
    p.add_argument("--difficulty", type=int, default=0, help="difficulty level, 0 the easiest (default 0)")
    p.add_argument(
        "--split",
        choices=("train", "test"),
        default="train",
        help="problem split (default train; test: held-out problems, for a Trajectories-v0 file's evaluation rows)",
    )
    p.add_argument("--path", help="srl/Trajectories-v0 only: the JSONL file whose problems to solve")
    p.add_argument("--samples", type=int, default=4, help="completions sampled per problem (default 4)")
    p.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature; 0 is greedy (needs --samples 1)"
    )
    p.add_argument(
        "--max-new-tokens",
        type=int,
        help="longest completion (default: the expert's longest solution of these problems x 1.5 + 16, <= 512)",
    )
    p.add_argument("--keep", type=int, default=1, help="distinct accepted solutions kept per problem (default 1)")
    p.add_argument("--batch-size", type=int, default=64, help="prompts per generate call (default 64)")
    p.add_argument("--sampling-seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "serve",
        help="serve an env as an OpenEnv environment server (pip install 'srl-gym[openenv]')",
        description="Serve a task as an OpenEnv environment server: each WebSocket session (/ws; OpenEnv's "
        "EnvClient) plays its own env; clients pick the seed and env options at reset (see "
        "srl_gym.adapters.openenv). Runs until interrupted.",
    )
    p.add_argument("env_id", help="the default task of every session, e.g. srl/Hanoi-v0 (see `srl-gym list`)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one, printed)")
    p.add_argument("--max-sessions", type=int, default=64, help="concurrent sessions at most (default 64)")
    p.add_argument("--difficulty", type=int, help="default difficulty of the sessions' envs")
    p.add_argument("--split", choices=("train", "test"), help="default problem split of the sessions' envs")
    p.add_argument("--path", help="srl/Trajectories-v0 only: your JSONL file of trajectories")
    p.add_argument("--exit-after", type=float, help="stop serving after this many seconds (scripts, tests)")
    p.set_defaults(func=cmd_serve)

    trainable = trainable_algorithms()
    p = sub.add_parser(
        "train",
        help="train a baseline: " + ", ".join(trainable),
        description="Train a baseline. `srl-gym train ALGO --help` lists the algorithm's options.",
        epilog="algorithms:\n" + "\n".join(f"  {n:12} ({a.kind}) {a.help}" for n, a in trainable.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("algo", choices=list(trainable), help="the algorithm")
    p.add_argument("algo_args", nargs=argparse.REMAINDER, help="the algorithm's options (see ALGO --help)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare",
        help="reproduce the baseline comparison (SFT, SRL, RLVR, SRL->RLVR; or BC/PPO): table, CIs, plots",
        add_help=False,  # `srl-gym compare --help` is the comparison's own help
    )
    p.add_argument("compare_args", nargs=argparse.REMAINDER, help="see `srl-gym compare --help`")
    return parser  # main() hands `compare ...` to srl_gym.compare.main


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:  # its options start with "--", which argparse.REMAINDER would not take
        from srl_gym import compare

        return compare.main(argv[1:], prog="srl-gym compare")
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "check"):  # the flags argparse cannot check one by one
        args.check(args)
    try:
        return args.func(args, out)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        parser.exit(2, f"srl-gym {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `srl-gym list | head`): not an error
        sys.stdout = open(os.devnull, "w")  # so the exit flush does not fail again
        return 0


if __name__ == "__main__":
    sys.exit(main())
