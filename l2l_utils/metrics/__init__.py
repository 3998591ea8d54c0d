"""Image metrics (FID / KID / IS / embedding cosine) with swappable backbones.

Offline the tables report FID_MNv2, KID_MNv2, IS_domain and an embedding cosine; with the paper's
weights available the same code gives FID with Inception-v3 and the OpenCLIP ViT-H-14 cosine.
"""
from l2l_utils.metrics.backbones import (BACKBONES, BackboneWeightsError, FeatureBackbone, InceptionBackbone,
                                         MobileNetV2Backbone, OpenCLIPBackbone, get_backbone)
from l2l_utils.metrics.classifier import DomainClassifier, get_is_classifier, load_is_classifier
from l2l_utils.metrics.image_metrics import (embedding_cosine, extract_features, fid_from_features,
                                             image_metrics, inception_score_from_logits, kid_from_features)

__all__ = ["BACKBONES", "BackboneWeightsError", "FeatureBackbone", "InceptionBackbone", "MobileNetV2Backbone",
           "OpenCLIPBackbone", "get_backbone", "DomainClassifier", "get_is_classifier", "load_is_classifier", "embedding_cosine",
           "extract_features", "fid_from_features", "image_metrics", "inception_score_from_logits",
           "kid_from_features"]
