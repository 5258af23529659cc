"""The RL Zoo's ``train`` with sb3-contrib's MaskablePPO as ``--algo ppo_mask`` (rl_zoo3 2.9 does not list it).

    python benchmarks/rl_zoo/train_maskable.py --algo ppo_mask --env srl/Hanoi-v0 --gym-packages srl_gym \\
        --conf-file benchmarks/rl_zoo/planning.yml --env-kwargs interface:"'discrete'" --num-threads 1

Training is masked (MaskablePPO asks the env's ``action_masks()``, no wrapper needed). The Zoo's
evaluation callback is Stable-Baselines3's plain one, which calls ``predict`` without masks, so its
``eval/success_rate`` is that of the unmasked policy (it may pick illegal moves); ``rollout/success_rate``
is the masked policy's. Every other argument is the Zoo's own (``--help``).
"""

import sys

if __name__ == "__main__":
    try:
        from rl_zoo3 import ALGOS
        from rl_zoo3.train import train
        from sb3_contrib import MaskablePPO
    except ImportError as missing:
        sys.exit(f"{missing}: this needs the RL Zoo and sb3-contrib: pip install -e '.[zoo]' (or pip install rl_zoo3)")
    ALGOS["ppo_mask"] = MaskablePPO
    sys.exit(train())
