"""Unlearning methods for I2I generators, generic over families (``l2l_utils.models.base``):
OURS and the four baselines of Li et al. (2024), each optionally restricted by SalUn weight saliency."""
from l2l_utils.unlearn.baselines import (METHODS, MaxLoss, NoisyLabel, RandomEncoder, RetainLabel,
                                         build_objective)
from l2l_utils.unlearn.loop import NonFiniteLossError, UnlearnConfig, load_unlearned, unlearn
from l2l_utils.unlearn.objectives import OursObjective, UnlearnObjective, embedding_mse, make_noise

__all__ = ["METHODS", "MaxLoss", "NoisyLabel", "NonFiniteLossError", "OursObjective", "RandomEncoder",
           "RetainLabel", "UnlearnConfig", "UnlearnObjective", "build_objective", "embedding_mse",
           "load_unlearned", "make_noise", "unlearn"]
