"""``python -m srl_gym ...`` is ``srl-gym ...`` (so ``accelerate launch -m srl_gym train srl ...`` works)."""

import sys

from srl_gym.cli import main

sys.exit(main())
