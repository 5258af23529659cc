"""srl-gym episodes as multi-turn tasks on TRL's GRPOTrainer (`srl_gym.agents.trl_env`, its ``environment_factory``).

The unit tests play `SRLEnvironment` by hand. The trainer tests run two GRPO steps on the CPU with
the tiny model: once sampling (the tiny model calls no tool, so each episode is its one turn,
then played out), once with a scripted ``generate`` that calls the step tool with the expert's
steps, so TRL's tool loop plays whole multi-turn episodes. Every episode the trainer rewarded is
replayed on a fresh env: its reward must be that env's return.
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from srl_gym.agents.models import tiny_model  # noqa: E402
from srl_gym.agents.trl_env import (  # noqa: E402
    EPISODE_OVER,
    INVALID_STEP,
    SRLEnvironment,
    environment_factory,
    episode_dataset,
    episode_return,
    tool_tokenizer,
)

ENV_ID = "srl/Arithmetic-v0"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch) -> None:
    torch.set_num_threads(1)
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")


@pytest.fixture(scope="module")
def rows() -> Any:
    return episode_dataset(ENV_ID, 2)


def _replay(seed: int, actions: list[str], reward: str = "srl") -> tuple[float, bool]:
    """(return, over) of ``actions`` played on a fresh env of the seed's problem."""
    env = gym.make(ENV_ID, interface="text", reward=reward, teacher_forcing=False)
    env.reset(seed=seed)
    total, over = 0.0, False
    for action in actions:
        assert not over
        _, r, terminated, truncated, _ = env.step(action)
        total, over = total + float(r), terminated or truncated
    return total, over


# ---------------------------------------------------------------------- the adapter by hand
def test_reset_by_seed_gives_the_envs_problem(rows):
    env = SRLEnvironment(ENV_ID)
    for row in rows:
        reference = gym.make(ENV_ID, interface="text")
        observation, _ = reference.reset(seed=row["seed"])
        assert row["observation"] == observation and row["prompt"][0]["content"].endswith(observation)
        assert env.reset(**row) is None  # the prompt already shows it
        assert env.env.unwrapped.problem.text == reference.unwrapped.problem.text
        assert env.reset(seed=row["seed"]) == observation  # a row without it: TRL appends the observation
        assert (env.actions, env.done, env.episode_return) == ([], False, 0.0)
    with pytest.raises(ValueError, match="difficulty"):
        env.reset(**(dict(rows[0]) | {"difficulty": 1}))
    with pytest.raises(ValueError, match="observation"):
        env.reset(**(dict(rows[0]) | {"seed": rows[1]["seed"]}))


@pytest.mark.parametrize(("reward", "expected"), [("srl", 1.0), ("outcome", 1.0), ("mixed", 1.0)])
def test_the_experts_steps_return_the_solve_bonus(rows, reward, expected):
    env = SRLEnvironment(ENV_ID, reward=reward)
    row = rows[0]
    env.reset(**row)
    for i, step in enumerate(row["expert_steps"]):
        news = env.step(step)  # the observation after it, less the problem statement
        assert news.startswith("Steps so far:") and f"Step {i + 1}: {step}" in news
        assert news.endswith(EPISODE_OVER) == (i == len(row["expert_steps"]) - 1)
    assert env.done and env.solved and env.rewards[:-1] == [0.0] * (len(row["expert_steps"]) - 1)
    assert env.episode_return == expected  # srl: 0 per step + the bonus; outcome: 1
    with pytest.raises(ValueError, match="over"):  # TRL shows the model this error
        env.step(row["expert_steps"][-1])
    # The final "Done." turn is not a step: the episode is over.
    assert episode_return([[{"role": "assistant", "content": "Done."}]], environments=[env]) == [expected]
    assert len(env.actions) == len(row["expert_steps"]) and env.idle_steps == 0


def test_a_junk_turn_is_an_invalid_step_and_the_episode_goes_on(rows):
    env = SRLEnvironment(ENV_ID)
    row = rows[0]
    env.reset(**row)
    state = env.env.unwrapped.state
    news = env.step("I like turtles")
    problem = env.env.unwrapped.problem.text
    assert f"{problem}\n\n{news}" == f"{row['observation']}\n\n{INVALID_STEP}"  # the same observation, said invalid
    assert env.env.unwrapped.state == state and not env.done
    assert env.rewards[0] < -1.0  # similarity - 1 - the invalid penalty
    env.step(row["expert_steps"][0])  # the episode goes on from the unchanged state
    assert env.env.unwrapped.history == [row["expert_steps"][0]] and not env.done


def test_the_last_turn_is_a_step_and_an_unfinished_episode_is_played_out(rows):
    env = SRLEnvironment(ENV_ID, reward="srl")
    row = rows[0]
    env.reset(**row)
    env.step(row["expert_steps"][0])
    last = {"role": "assistant", "reasoning_content": "easy", "content": row["expert_steps"][1]}
    [value] = episode_return([[{"role": "tool", "content": "..."}, last]], environments=[env])
    assert env.actions[:2] == [row["expert_steps"][0], f"<think>easy</think> {row['expert_steps'][1]}"]
    assert env.done and not env.solved and env.actions[2:] == [""] * env.idle_steps and env.idle_steps > 0
    assert value == env.episode_return == pytest.approx(-2.0 * env.idle_steps)  # each empty step: -1 - 1
    assert (value, True) == _replay(row["seed"], env.actions)
    # Stopping early never beats the expert, and its return is a return of the env.
    assert value < 1.0

    env.reset(**row)  # a last turn whose tool call TRL did not run is played too
    call = {"type": "function", "function": {"name": "step", "arguments": {"text": row["expert_steps"][0]}}}
    episode_return([[{"role": "assistant", "content": "", "tool_calls": [call]}]], environments=[env])
    assert env.actions[0] == row["expert_steps"][0] and env.idle_steps == len(env.actions) - 1

    env.reset(**row)
    assert episode_return(["Answer: 5"], environments=[env]) == [pytest.approx(env.episode_return)]
    assert env.actions[0] == "Answer: 5" and env.done and not env.solved  # a wrong final answer ends it
    assert episode_return(["x"], environments=[object()]) == [None]  # another environment's rollout


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="reward must be one of"):
        environment_factory(ENV_ID, reward="dense")
    with pytest.raises(ValueError, match="not an srl-gym"):
        environment_factory("CartPole-v1")
    with pytest.raises(ValueError, match="unknown env id"):
        environment_factory("srl/Nope-v0")
    with pytest.raises(ValueError, match="text interface"):
        environment_factory(ENV_ID, interface="discrete")
    with pytest.raises(ValueError, match="teacher_forcing"):
        environment_factory(ENV_ID, teacher_forcing=True)
    with pytest.raises(ValueError, match="environment_factory"):
        episode_return(["x"])
    _, tokenizer = tiny_model()
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="tool calls"):
        tool_tokenizer(tokenizer)


def test_tool_tokenizer_gives_the_tiny_model_a_tool_calling_template():
    from trl.chat_template_utils import supports_tool_calling

    _, tokenizer = tiny_model()
    chat = tool_tokenizer(tokenizer)
    assert tokenizer.chat_template is None and supports_tool_calling(chat)  # a copy: the original is unchanged
    assert tool_tokenizer(chat) is chat


# ---------------------------------------------------------------------- two GRPO steps on TRL
class Recorder:
    """`episode_return`, recording each rewarded episode: (seed, actions, idle steps, reward)."""

    __name__ = "episode_return"

    def __init__(self) -> None:
        self.episodes: list[tuple[int, list[str], int, float]] = []

    def __call__(self, completions: list[Any], environments: list[Any], **columns: Any) -> list[float | None]:
        rewards = episode_return(completions, environments=environments, **columns)
        for env, seed, reward in zip(environments, columns["seed"], rewards, strict=True):
            assert env.seed == seed  # the rollout's env was reset with its own row's problem
            self.episodes.append((seed, list(env.actions), env.idle_steps, reward))
        return rewards


def _trainer(tmp_path: Any, rows: Any, model: Any, **overrides: Any) -> tuple[Any, Recorder, list[SRLEnvironment]]:
    from trl import GRPOConfig, GRPOTrainer

    made: list[SRLEnvironment] = []
    factory = environment_factory(ENV_ID, reward="srl")

    def counted() -> SRLEnvironment:
        made.append(factory())
        return made[-1]

    _, tokenizer = tiny_model()
    options = {
        "output_dir": str(tmp_path / "out"), "use_cpu": True, "report_to": [], "save_strategy": "no",
        "bf16": False, "logging_steps": 1, "seed": 0, "max_steps": 2, "learning_rate": 1e-3,
        "per_device_train_batch_size": 4, "num_generations": 2, "beta": 0.0, "max_completion_length": 16,
        "max_tool_calling_iterations": 4,
    } | overrides  # fmt: skip
    recorder = Recorder()
    trainer = GRPOTrainer(
        model=model, reward_funcs=recorder, args=GRPOConfig(**options), train_dataset=rows,
        processing_class=tool_tokenizer(tokenizer), environment_factory=counted,
    )  # fmt: skip
    return trainer, recorder, made


def _check_episodes(trainer: Any, recorder: Recorder, rows: Any, per_step: int = 4) -> None:
    """Each of the 2 steps rewarded ``per_step`` rollouts, each reward its episode's return on a fresh env."""
    n = per_step
    assert trainer.state.global_step == 2 and len(recorder.episodes) == 2 * n
    seeds = set(rows["seed"])
    for seed, actions, _, reward in recorder.episodes:
        assert seed in seeds and actions
        assert (reward, True) == pytest.approx(_replay(seed, actions))
    logged = [h["rewards/episode_return/mean"] for h in trainer.state.log_history if "rewards/episode_return/mean" in h]
    assert logged == pytest.approx([sum(e[3] for e in recorder.episodes[n * i : n * (i + 1)]) / n for i in range(2)])


@pytest.mark.slow
def test_grpo_trainer_plays_the_env_with_the_tiny_model(tmp_path, rows):
    model, _ = tiny_model(seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    trainer, recorder, made = _trainer(tmp_path, rows, model)
    trainer.train()
    assert len(made) == 4  # TRL's probe, then one instance per rollout of a batch (pooled across steps)
    _check_episodes(trainer, recorder, rows)
    for _, actions, idle, _ in recorder.episodes:  # no tool call: the one turn is the step, then played out
        assert idle == len(actions) - 1 and actions[1:] == [""] * idle
    assert len({e[3] for e in recorder.episodes}) > 1  # the turns' similarities differ: GRPO has a signal
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.slow
def test_grpo_trainer_plays_whole_episodes_through_the_step_tool(tmp_path, rows):
    """A scripted ``generate`` calls the step tool with the expert's next step, then says it is done.

    One prompt x 2 rollouts per step (the conversations are long for the CPU), both prompts in the 2 steps.
    """
    model, _ = tiny_model(seed=0)
    model.config.max_position_embeddings = 4096  # RoPE: the conversation (~2.2k characters) passes the preset's 2048
    _, chars = tiny_model()
    steps = {row["observation"]: row["expert_steps"] for row in rows}

    def scripted(input_ids: Any, attention_mask: Any = None, **_: Any) -> Any:
        outputs = []
        for ids in input_ids:
            text = chars.decode(ids, skip_special_tokens=True)
            expert = next(s for observation, s in steps.items() if observation in text)
            k = text.count("<tool_response>")  # the steps taken so far
            call = {"name": "step", "arguments": {"text": expert[k]}} if k < len(expert) else None
            turn = f"<tool_call>\n{json.dumps(call)}\n</tool_call><|im_end|>" if call else "Done.<|im_end|>"
            outputs.append(chars(turn, add_special_tokens=False)["input_ids"] + [chars.eos_token_id])
        width = max(map(len, outputs))
        tail = torch.tensor([o + [chars.pad_token_id] * (width - len(o)) for o in outputs])
        return torch.cat([input_ids, tail.to(input_ids.device)], dim=1)

    model.generate = scripted
    trainer, recorder, _ = _trainer(tmp_path, rows, model, max_completion_length=4096, per_device_train_batch_size=2)
    trainer.train()
    _check_episodes(trainer, recorder, rows, per_step=2)
    assert {e[0] for e in recorder.episodes} == set(rows["seed"])
    for seed, actions, idle, reward in recorder.episodes:  # every step a tool call; the expert's return
        assert actions == next(r["expert_steps"] for r in rows if r["seed"] == seed) and idle == 0
        assert reward == 1.0
    calls = [h["tools/call_frequency"] for h in trainer.state.log_history if "tools/call_frequency" in h]
    assert sorted(calls) == pytest.approx(sorted(len(r["expert_steps"]) for r in rows))  # calls per rollout
