"""The baselines, registered into `srl_gym.algorithms` (one registry for ``srl-gym train`` and ``srl-gym compare``).

One algorithm per file; adding one is a file with ``Args``, ``train``, ``main`` and ``train_cell``
(see `srl_gym.algorithms`) and a line below. Nothing heavy is imported here: entry points are
strings, loaded when used.
"""

from srl_gym import metrics as M
from srl_gym.algorithms import register_algorithm, register_kind

register_kind("lm", entry_point="srl_gym.agents.lm_eval")
register_kind("discrete", entry_point="srl_gym.agents.discrete_eval")

# ---- language models (TRL)
# ``objectives``: the held-out metrics of what each one optimises (the report checks each against the base).
register_algorithm("base", kind="lm", entry_point="srl_gym.agents.base",
                   help="the warmed-up start model, untrained on the hard problems (the reference)", trainable=False)
register_algorithm("sft", kind="lm", entry_point="srl_gym.agents.sft", expert_data=True,
                   objectives=(M.SOLUTION_LOSS, M.GREEDY_SUCCESS),
                   help="SFT on whole expert solutions (TRL SFTTrainer)")
register_algorithm("rlvr", kind="lm", entry_point="srl_gym.agents.rlvr", objectives=(M.AVG_AT_K,),
                   help="GRPO with the verifier's 0/1 outcome reward")
register_algorithm("srl", kind="lm", entry_point="srl_gym.agents.srl", expert_data=True,
                   objectives=(M.STEP_REWARD, M.EXACT_MATCH), help="GRPO with the step-similarity reward (SRL)")
register_algorithm("srl-rlvr", kind="lm", entry_point="srl_gym.agents.srl_rlvr", expert_data=True,
                   objectives=(M.STEP_REWARD, M.EXACT_MATCH, M.AVG_AT_K),
                   help="SRL for half the updates, then RLVR from the SRL model")
register_algorithm("srl-onpolicy", kind="lm", entry_point="srl_gym.agents.srl_onpolicy", expert_data=True,
                   objectives=(M.AGENT_STEP_SIMILARITY, M.STEP_REWARD),
                   help="SRL on the model's own states too: rounds of play (the oracle labels each state), then GRPO")
register_algorithm("rlvr-curriculum", kind="lm", entry_point="srl_gym.agents.rlvr_curriculum", objectives=(M.AVG_AT_K,),
                   help="RLVR with a curriculum: from level 0 up to the training level, moving up when the sampled "
                        "success of the last 2 updates is >= 0.5 (RLVR's budget and settings)")
# ---- controls: rows that validate the comparison on itself (the report says whether each came out as it must)
register_algorithm("control-sft", kind="lm", entry_point="srl_gym.agents.sft", options={"control": True},
                   control="positive", objectives=(M.SOLUTION_LOSS, M.GREEDY_SUCCESS),
                   help="positive control: SFT with a budget and rate known to move the base (control_updates, "
                        "control_learning_rate); the comparison must find it above the base")
register_algorithm("control-rlvr", kind="lm", entry_point="srl_gym.agents.rlvr", options={"control": True},
                   control="negative", objectives=(M.AVG_AT_K,),
                   help="negative control: RLVR on the level above the training one, whose solutions the base never "
                        "samples (no reward, no gradient); the comparison must not find it apart from the base")
# ---- discrete agents (Stable-Baselines3)
register_algorithm("random", kind="discrete", entry_point="srl_gym.agents.random_policy",
                   help="a uniformly random legal move (the untrained reference)", trainable=False)
register_algorithm("bc", kind="discrete", entry_point="srl_gym.agents.bc",
                   help="behaviour cloning with DAgger from the oracle (the SFT analogue)")
register_algorithm("ppo", kind="discrete", entry_point="srl_gym.agents.ppo",
                   help="(Maskable)PPO with reward srl, outcome or mixed (--reward)")
register_algorithm("ppo-srl", kind="discrete", entry_point="srl_gym.agents.ppo",
                   help="MaskablePPO, dense expert-matching reward (the SRL analogue)", options={"reward": "srl"})
register_algorithm("ppo-outcome", kind="discrete", entry_point="srl_gym.agents.ppo",
                   help="MaskablePPO, 0/1 outcome reward (the RLVR analogue)", options={"reward": "outcome"})
