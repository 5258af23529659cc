"""The verifiers plugin module of srl-gym (taskset id ``srl-gym-verifiers``): see `srl_gym.adapters.verifiers`.

verifiers 0.4 imports a taskset by the module its id names and takes the Taskset, Env and Harness
subclasses this module exports in ``__all__``.
"""

from srl_gym.adapters.verifiers import SRLChatHarness, SRLEnv, SRLTaskset

__all__ = ["SRLChatHarness", "SRLEnv", "SRLTaskset"]
