"""The voice model ``affectkit train`` exports (voice corpora load through :func:`affectkit.data.registry.load_dataset`).

``affectkit train voice --data emodb:PATH`` evaluates a voice model speaker-independently
(:func:`affectkit.audio.experiment.run_audio_experiment`) and then, for the MLPs, fits
one more on all the data and saves it (:func:`export_audio_model`), so the model that
the report describes can be used with ``affectkit analyze --audio --audio-model``.
"""

from __future__ import annotations

from pathlib import Path

from affectkit.audio.dataset import AudioSet


def export_audio_model(audio: AudioSet, path: str | Path, *, features: str = "librosa", model: str = "mlp",
                       speaker_norm: bool = False, seed: int = 0, command: str = "") -> Path:
    """Fit a voice MLP on every labelled recording of ``audio`` and save it.

    Parameters
    ----------
    audio : AudioSet
        Labelled recordings with speaker ids.
    path : str or Path
        Destination ``.safetensors`` (its card is the ``.json`` beside it).
    features : {"librosa", "egemaps", "compare"}
        Feature set (:func:`affectkit.audio.features.extract_features`).
    model : {"mlp", "transfer-mlp"}
        ``transfer-mlp`` is first trained on speaker gender (Ouyang et al. 2017).
    speaker_norm : bool
        Z-score features per speaker before training; the card records it, and
        ``analyze --audio`` then normalises each clip over its own windows.
    seed : int
    command : str
        Stored in the card.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If ``model`` is not an MLP (forests and SVMs have no tensor form to save).
    """
    import numpy as np

    from affectkit.audio.experiment import speaker_normalize
    from affectkit.audio.features import extract_features, feature_names
    from affectkit.audio.models import make_audio_model, save_audio_model

    if model not in ("mlp", "transfer-mlp"):
        raise ValueError(f"only the MLP voice models can be exported, not {model!r}")
    keep = np.flatnonzero(audio.labels >= 0)
    x = extract_features(audio, features)[keep]
    speakers = [audio.subjects[i] for i in keep]
    if speaker_norm:
        x = speaker_normalize(x, speakers)
    net = make_audio_model(model, seed=seed)
    if model == "transfer-mlp":
        net.pretrain(x, [audio.genders[i] for i in keep], groups=speakers)
    net.fit(x, audio.labels[keep], groups=speakers)
    return save_audio_model(
        net, path, feature_kind=features, feature_names=feature_names(features), class_names=audio.class_names,
        sample_rate=16000, window_s=2.0, speaker_norm=speaker_norm,
        training={"data": audio.meta, "n": int(len(keep)), "model": model, "seed": seed, "command": command},
    )
