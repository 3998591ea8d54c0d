"""SalUn for image classification (Fan et al., ICLR 2024): ResNet-18, data and forgetting scenarios,
nine unlearning methods behind ``unlearn``, and the UA/RA/TA/MIA/Avg. Gap metrics.

The saliency mask itself is generic and lives in ``l2l_utils.unlearn.saliency``.
"""
from l2l_utils.classification.data import Scenario, load_cifar10, load_datasets, make_scenario
from l2l_utils.classification.methods import ALL_METHODS, run_trials, train_from_scratch, unlearn
from l2l_utils.classification.metrics import (PAPER_CIFAR10, avg_gap, evaluate, mia_efficacy, results_table,
                                              summarize)
from l2l_utils.classification.resnet import ResNet18
from l2l_utils.classification.settings import SALUN_SETTINGS, get_salun_settings

__all__ = ["ALL_METHODS", "PAPER_CIFAR10", "ResNet18", "SALUN_SETTINGS", "Scenario", "avg_gap", "evaluate",
           "get_salun_settings", "load_cifar10", "load_datasets", "make_scenario", "mia_efficacy", "results_table",
           "run_trials", "summarize", "train_from_scratch", "unlearn"]
