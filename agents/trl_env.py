"""Multi-turn srl-gym episodes on TRL's ``GRPOTrainer``, through its ``environment_factory`` interface.

**TRL's interface** (TRL 1.16, ``trl/trainer/grpo_trainer.py``)::

    GRPOTrainer(model, reward_funcs=None, args=None, train_dataset=None, ..., tools=None,
                rollout_func=None,
                environment_factory: EnvironmentFactory | dict[str, EnvironmentFactory] | None = None)
    EnvironmentFactory = Callable[[], _SupportsReset]   # _SupportsReset: def reset(self, **kwargs) -> str | None

It has two ways to put an environment in the loop: ``rollout_func`` (experimental; replaces
generation wholesale and must return token ids and logprobs itself) and ``environment_factory``
(experimental too), the one its docstring and docs describe for stateful, multi-turn
environments, kept here because TRL then does the generation, the chat templating, the masking
of environment tokens out of the loss and the vLLM path itself. What TRL does with it:

1. One instance per rollout (``factory()``, pooled and reused across batches). Before generation,
   ``instance.reset(**row)`` gets every column of the rollout's dataset row; a returned string is
   appended to the last user message.
2. Every public method other than ``reset`` and ``get_reward`` becomes a tool (its name, type
   hints and Google docstring are its schema in the chat template). The model's turn is parsed
   (``parse_response``); each tool call runs, its result is appended as a ``tool`` message and the
   model is called again, until a turn has no tool call, ``GRPOConfig.max_tool_calling_iterations``
   turns ran or ``max_completion_length`` tokens are used up. Tool results are masked out of the
   loss; a tool that raises returns ``{"error": ...}`` to the model.
3. Reward functions get the instances as ``environments=`` (one per completion), with the
   completion as its list of messages.

**This adapter.** `SRLEnvironment` wraps ``gym.make(env_id, interface="text", reward=...,
teacher_forcing=False)``: ``reset`` draws the row's problem (``env.reset(seed=row["seed"])``)
and its one tool, ``step(text)``, is one env step on the model's own state (on-policy: a valid
step is applied and the oracle re-plans; an invalid one leaves the state unchanged and the
episode goes on), returning the next observation as the next turn, less the problem statement it
starts with (the first turn shows it; repeated, it would cost its length in every turn): "Steps
so far: ..." and, for tasks that draw one, the current state, plus a line when the step was
invalid or the episode is over. With ``observation="incremental"`` (an env option, passed through
`environment_factory` and `episode_dataset`) a tool result is only the step added (or that the
step was invalid) and the current state, so the conversation grows linearly with the steps.
The model's last turn, when it calls no tool (or TRL stopped before running its call), is the
episode's next step too: every assistant turn is one step. An
episode the conversation leaves unfinished is played out with empty steps (invalid: the state
stays) until the env truncates it at ``max_steps``, so stopping early is scored like stalling in
the env. `episode_return` (the reward function) returns each episode's return, the sum of the
env's rewards: with ``reward="srl"`` the SRL return, at most the expert's (0 per step plus the
solve bonus; every other policy earns strictly less, however long it plays or however early it
stops); with ``"outcome"`` 1.0 if solved, else 0.0. After the episode is over, ``step`` raises
(TRL shows the model the error) and the return does not move.
`episode_dataset` gives the rows (one per problem) and `tool_tokenizer` a chat template that can
render tool calls (TRL requires one; the tiny models get TRL's Qwen3 template)::

    from trl import GRPOConfig, GRPOTrainer
    from srl_gym.agents.models import load_model
    from srl_gym.agents.trl_env import environment_factory, episode_dataset, episode_return, tool_tokenizer

    model, tokenizer = load_model("tiny", "cpu")
    trainer = GRPOTrainer(
        model=model, processing_class=tool_tokenizer(tokenizer), reward_funcs=episode_return,
        train_dataset=episode_dataset("srl/Arithmetic-v0", 64),
        environment_factory=environment_factory("srl/Arithmetic-v0", reward="srl"),
        args=GRPOConfig(output_dir="runs/trl-env", num_generations=8, max_completion_length=1024,
                        max_tool_calling_iterations=12, beta=0.0),
    )
    trainer.train()

**Per-step rewards are collapsed.** TRL's GRPO gives each completion one scalar reward and one
advantage (the reward against its group's), and every model token of the whole multi-turn
completion gets that same advantage: the env's per-step rewards become one number per episode, so
which step earned or lost it is not credited (a good first step after which the model went astray
is pushed down with the rest). ``srl-onpolicy`` (`srl_gym.agents.srl_onpolicy`) keeps them per
step instead: it plays the model in the env, turns every state it reached into its own GRPO prompt
with the oracle's step from there as the target, and rewards each step alone (its similarity to
that step), so every step is credited with its own reward, at the cost of not optimising the
episode's return as a whole.

TRL marks ``environment_factory`` experimental (it warns unless ``TRL_EXPERIMENTAL_SILENCE=1``).
Tested on TRL 1.16 with its plain ``GRPOTrainer`` (``tests/test_trl_env.py``). An untrained tiny
model never writes a tool call, so each of its episodes is one turn, then played out; the tests
drive TRL's tool loop through whole episodes with a scripted ``generate``. The project's
`srl_gym.agents.dynamic_sampling` trainer calls TRL's generation again for each refill round,
which resets the instances for the new rows (each round is rewarded before), but is not tested
with this module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from srl_gym.env import REWARDS, ReasoningEnv, sanitize
from srl_gym.prompts import prompt_text

#: The name of the one tool the model sees (the method `SRLEnvironment.step`).
TOOL_NAME = "step"
#: Said before the step-wise instruction of `srl_gym.prompts`: how the episode is played.
TOOL_INSTRUCTION = "Solve it one step per turn: call the step tool with each step; it returns the next observation."
#: Appended to the observation that ends the episode.
EPISODE_OVER = "The episode is over."
#: Appended to the observation after an invalid step (the state is unchanged).
INVALID_STEP = "That step was invalid: the state is unchanged."


class SRLEnvironment:
    """One srl-gym text env as a TRL environment: ``reset`` by a dataset row, one tool ``step`` per reasoning step.

    Attributes (of the current episode): ``env`` (the Gymnasium env), ``seed``, ``actions`` (the
    texts stepped, in order, played-out empty steps included), ``rewards`` (the env's reward of
    each), ``idle_steps`` (how many empty steps played the episode out), ``done``, ``solved``,
    ``episode_return`` (the sum of ``rewards``).
    """

    def __init__(
        self,
        env_id: str,
        *,
        reward: str = "srl",
        split: str = "train",
        difficulty: int = 0,
        max_steps: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        import gymnasium as gym

        from srl_gym.episodes import make_text_env

        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS} (the env's reward modes), got {reward!r}")
        if env_kwargs.get("interface", "text") != "text":
            raise ValueError(f"TRL plays the text interface, got interface={env_kwargs['interface']!r}")
        if env_kwargs.get("teacher_forcing"):
            raise ValueError("teacher_forcing=True would replace the model's steps by the expert's; "
                             "the adapter plays the model's own steps (teacher_forcing=False)")  # fmt: skip
        env_kwargs = {k: v for k, v in env_kwargs.items() if k not in ("interface", "teacher_forcing")}
        make_text_env(env_id, split=split, difficulty=difficulty, **env_kwargs)  # not an srl-gym text env: ValueError
        self.env_id, self.reward_mode, self.split, self.difficulty = env_id, reward, split, difficulty
        self.env_kwargs = env_kwargs
        self.env = gym.make(env_id, interface="text", reward=reward, split=split, difficulty=difficulty,
                            teacher_forcing=False, max_steps=max_steps, **env_kwargs)  # fmt: skip
        if not isinstance(self.env.unwrapped, ReasoningEnv) or self.env.unwrapped.interface != "text":
            raise ValueError(f"{env_id!r} has no text interface for a language model to play")
        self._clear(None)

    # ------------------------------------------------------------------ what TRL calls
    def reset(self, seed: int | None = None, **columns: Any) -> str | None:
        """Start the episode of a dataset row's problem (``seed``; None draws one).

        TRL passes every column of the row. Returns None when the row's ``observation`` column
        already shows the problem (its prompt holds it: `episode_dataset`), else the first
        observation, which TRL appends to the row's prompt.

        Raises:
            ValueError: the row's ``env_id``, ``split``, ``difficulty`` or ``observation`` is not
                this env's (the dataset was built for another env or other options).
        """
        import json

        expected = {"env_id": self.env_id, "split": self.split, "difficulty": self.difficulty}
        for key, value in expected.items():
            if key in columns and columns[key] != value:
                raise ValueError(f"the row's {key} is {columns[key]!r} but this environment plays {value!r}")
        if "env_kwargs" in columns and json.loads(columns["env_kwargs"] or "{}") != self.env_kwargs:
            raise ValueError(f"the row's env_kwargs {columns['env_kwargs']} are not this env's {self.env_kwargs}")
        observation, _ = self.env.reset(seed=None if seed is None else int(seed))
        self._clear(seed)
        if "observation" not in columns:
            return observation
        if columns["observation"] != observation:
            raise ValueError(f"the row's observation is not the problem that seed {seed} gives {self.env_id} "
                             "(a dataset of other env options?)")  # fmt: skip
        return None

    def step(self, text: str) -> str:
        """Take the next step of the problem; the state changes only if the step is valid.

        Args:
            text: the next step, written as the problem asks.

        Returns:
            The steps so far and, for some tasks, the current state (the problem is not repeated).
        """
        if self.done:
            raise ValueError(f"{EPISODE_OVER} Do not call {TOOL_NAME} again.")
        if not isinstance(text, str):
            raise ValueError(f"the step must be text, got {type(text).__name__}")
        observation, valid = self._step(text)
        problem = sanitize(self.env.unwrapped.problem.text) + "\n\n"  # as the observation starts
        news = observation.removeprefix(problem)
        said = valid or self.env.unwrapped.observation_mode == "incremental"  # an incremental one says it itself
        notes = ([] if said else [INVALID_STEP]) + ([EPISODE_OVER] if self.done else [])
        return "\n\n".join([news, *notes])

    # ------------------------------------------------------------------ the episode
    @property
    def episode_return(self) -> float:
        """The sum of the env's rewards so far (the whole episode's once `episode_return` has played it out)."""
        return float(sum(self.rewards))

    def _clear(self, seed: int | None) -> None:
        self.seed = seed
        self.actions: list[str] = []
        self.rewards: list[float] = []
        self.idle_steps = 0
        self.done = False
        self.solved = False

    def _step(self, text: str) -> tuple[str, bool]:
        observation, reward, terminated, truncated, info = self.env.step(text)
        self.actions.append(text)
        self.rewards.append(float(reward))
        self.done = bool(terminated or truncated)
        self.solved = bool(info.get("solved", False))
        return observation, bool(info["valid"])

    def _finish(self, completion: Any) -> float:
        """Play the completion's last turn if TRL did not, then empty steps until the episode ends; its return."""
        if not self.done:
            messages = [{"role": "assistant", "content": completion}] if isinstance(completion, str) else completion
            last = messages[-1] if messages else None
            if isinstance(last, dict) and last.get("role") == "assistant":
                for text in _turn_steps(last):
                    if self.done:
                        break
                    self._step(text)
            while not self.done:
                self._step("")
                self.idle_steps += 1
        return self.episode_return


def _turn_steps(message: dict[str, Any]) -> list[str]:
    """The steps of an assistant turn TRL did not play: its calls of the step tool, or (none) its text."""
    calls = message.get("tool_calls")
    if calls:
        steps = []
        for call in calls:
            function = call.get("function") or {}
            arguments = function.get("arguments") if function.get("name") == TOOL_NAME else None
            text = arguments.get("text") if isinstance(arguments, dict) else None
            if isinstance(text, str):
                steps.append(text)
        return steps
    content = message.get("content") or ""
    if not isinstance(content, str):  # content blocks
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    reasoning = message.get("reasoning_content")  # a chat template's parser takes the <think> part out
    return [f"<think>{reasoning}</think> {content}" if reasoning else content]


def environment_factory(env_id: str, **options: Any) -> Callable[[], SRLEnvironment]:
    """``GRPOTrainer(environment_factory=...)``: a callable making a fresh `SRLEnvironment` (options checked now).

    ``options``: ``reward`` (``"srl"``, ``"outcome"``, ``"mixed"``), ``split``, ``difficulty``,
    ``max_steps`` and the env's other keyword options (see `srl_gym.env.ReasoningEnv`).

    Raises:
        ValueError: an unknown reward, an env id that is not an srl-gym text env, bad options.
    """
    SRLEnvironment(env_id, **options)

    def make() -> SRLEnvironment:
        return SRLEnvironment(env_id, **options)

    return make


def episode_return(
    completions: Sequence[Any], environments: Sequence[Any] | None = None, **_columns: Any
) -> list[float | None]:
    """TRL reward function: each completion's episode return, read from its `SRLEnvironment`.

    The completion's last turn is stepped if TRL did not step it, and an unfinished episode is
    played out with empty steps first (see the module docstring). An environment of another kind
    (TRL's dict of factories) gets None: TRL ignores it.

    Raises:
        ValueError: no ``environments`` (the trainer was built without ``environment_factory``).
    """
    if environments is None:
        raise ValueError("episode_return reads the episodes of GRPOTrainer(environment_factory=...): "
                         "build the trainer with srl_gym.agents.trl_env.environment_factory(env_id)")  # fmt: skip
    return [
        e._finish(c) if isinstance(e, SRLEnvironment) else None for c, e in zip(completions, environments, strict=True)
    ]


def episode_dataset(
    env_id: str, num_problems: int, *, split: str = "train", difficulty: int = 0, start_seed: int = 0, **env_kwargs: Any
) -> Any:
    """A `datasets.Dataset` with one row per distinct problem, for `SRLEnvironment`.

    The rows of `srl_gym.datasets.solution_dataset` (same seeds, same problem columns: ``env_id``,
    ``split``, ``difficulty``, ``seed``, ``env_kwargs``, ``observation``, ``expert_steps``) with
    the ``prompt`` a chat message (TRL's environments need chat prompts): `TOOL_INSTRUCTION`, then
    the step-wise prompt of `srl_gym.prompts` on the first observation; no ``completion``.

    Raises:
        ValueError: as `srl_gym.datasets.solution_dataset`.
    """
    from datasets import Dataset

    from srl_gym.datasets import solution_dataset

    rows = solution_dataset(env_id, num_problems, split=split, difficulty=difficulty, start_seed=start_seed,
                            **env_kwargs).remove_columns("completion")  # fmt: skip
    return Dataset.from_list(
        [row | {"prompt": [{"role": "user", "content": f"{TOOL_INSTRUCTION} {prompt_text(row['observation'])}"}]}
         for row in rows]
    )  # fmt: skip


def tool_tokenizer(tokenizer: Any) -> Any:
    """``tokenizer`` if its chat template renders tool calls, else a copy with TRL's Qwen3 template (no template).

    TRL's ``GRPOTrainer`` refuses ``environment_factory`` without a template that renders a
    tool-calling conversation, and parses the model's turns with a response template it knows for
    a few templates, Qwen3's among them (``trl.chat_template_utils.add_response_schema``). The
    tiny models have no chat template; a model trained with this one keeps it in its checkpoints.

    Raises:
        ValueError: the tokenizer has a chat template that cannot render tool calls.
    """
    from trl.chat_template_utils import qwen3_chat_template, supports_tool_calling

    if supports_tool_calling(tokenizer):
        return tokenizer
    if getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "the tokenizer's chat template cannot render tool calls, which TRL's environments need; set "
            "tokenizer.chat_template to one that can (e.g. trl.chat_template_utils.qwen3_chat_template)"
        )
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.chat_template = qwen3_chat_template
    return tokenizer


__all__ = [
    "EPISODE_OVER",
    "INVALID_STEP",
    "TOOL_INSTRUCTION",
    "TOOL_NAME",
    "SRLEnvironment",
    "environment_factory",
    "episode_dataset",
    "episode_return",
    "tool_tokenizer",
]
