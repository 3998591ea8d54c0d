"""l2l: machine unlearning for image-to-image generative models (Li et al., ICLR 2024) and SalUn
weight saliency (Fan et al., ICLR 2024). All notebook logic lives in this package."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
