"""Unlearning methods for I2I generators, generic over families (``l2l_utils.models.base``)."""
from l2l_utils.unlearn.loop import NonFiniteLossError, UnlearnConfig, load_unlearned, unlearn
from l2l_utils.unlearn.objectives import OursObjective, embedding_mse, make_noise

__all__ = ["NonFiniteLossError", "UnlearnConfig", "OursObjective", "embedding_mse", "load_unlearned",
           "make_noise", "unlearn"]
