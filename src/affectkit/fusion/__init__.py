"""Late fusion of face and voice class scores, with explicit class mapping.

Fusion happens at the score level ("late fusion"), which Vielzeuf et al. (2018) found
as good as anything more elaborate when the training set is small. The package is
split by concern:

* :mod:`affectkit.fusion.classes` -- **class maps** (:class:`ClassMap`,
  :func:`align_classes`): a modality's class columns onto the target classes *by name*,
  every unmatched class given an explicit rule (merge or drop), a coverage mask for
  the target classes a modality cannot predict.
* :mod:`affectkit.fusion.combine` -- **fusion** of aligned scores (:func:`fuse_mean`,
  :func:`fuse_weighted`, per class over the modalities that cover it and have an output
  for the sample) and seed ensembles (:func:`ensemble_modalities`). ``analyze --audio``
  uses the class maps and :func:`fuse_mean`.
* :mod:`affectkit.fusion.learn` -- **experimental**, reached by no command: fusion
  weights learned on a validation set (:func:`learn_fusion_weights`,
  :func:`search_class_weights`, :func:`stacker_predict_proba`) and the saved model
  :class:`LateFusion`. It is tested on generated score sets only (no paired
  audio-visual corpus is available here).

Every name listed in ``__all__`` can be imported from ``affectkit.fusion``.
"""

from affectkit.fusion.classes import ON_MISSING, ClassMap, align_classes
from affectkit.fusion.combine import ensemble_modalities, fuse_mean, fuse_weighted
from affectkit.fusion.learn import (
    FUSION_METHODS,
    METRICS,
    LateFusion,
    learn_fusion_weights,
    search_class_weights,
    stacker_predict_proba,
)

__all__ = [
    "ON_MISSING", "ClassMap", "align_classes",
    "fuse_mean", "fuse_weighted", "ensemble_modalities",
    "METRICS", "FUSION_METHODS", "LateFusion", "learn_fusion_weights", "search_class_weights",
    "stacker_predict_proba",
]
