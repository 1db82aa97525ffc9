"""Voice emotion recognition: audio input, acoustic functionals, models, corpora, experiments.

* :mod:`affectkit.audio.io`: read sound files and video audio tracks (soundfile, PyAV).
* :mod:`affectkit.audio.features`: eGeMAPS-like functionals with librosa (default) or
  openSMILE's eGeMAPS/ComParE sets (optional extra, non-commercial licence).
* :mod:`affectkit.audio.models`: the MLP of Vielzeuf et al. (2018), random forest, SVM,
  and source-task transfer as Ouyang et al. (2017); safetensors + JSON card files.
* :mod:`affectkit.audio.dataset` / :mod:`affectkit.audio.corpora`: :class:`AudioSet` and
  loaders for EmoDB, RAVDESS, CREMA-D and IEMOCAP.
* :mod:`affectkit.audio.experiment`: speaker-independent evaluation over seeds.

Submodules are imported on use, so ``import affectkit.audio`` stays cheap.
"""

from affectkit.audio.dataset import AUDIO_EMOTIONS, AudioSet
from affectkit.audio.io import has_audio, is_silent, load_audio

__all__ = ["AUDIO_EMOTIONS", "AudioSet", "has_audio", "is_silent", "load_audio"]
