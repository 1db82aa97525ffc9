"""Voice activity detection: which stretches of a sound track hold speech.

The detector is Silero VAD (Silero Team 2024, "Silero VAD: pre-trained enterprise-grade
Voice Activity Detector", https://github.com/snakers4/silero-vad, MIT licence), a
small convolutional + LSTM network that gives a speech probability for every 32 ms of
16 kHz audio. Its weights are the ``silero_vad/data/silero_vad_16k.safetensors`` file
of the ``silero-vad`` 6.2.3 wheel on PyPI (the 16 kHz weights it ships for its tinygrad
port), read from the installed wheel. The package itself requires torch, so it is
located, never imported, and installed without its dependencies
(:data:`SILERO_INSTALL`; ``scripts/setup.sh`` and ``scripts/demo.sh`` do this): a third
party's weights are not copied into affectkit, nothing is downloaded at run time, and
no torch-hub or TorchScript code is run. ``$AFFECTKIT_WEIGHTS_DIR`` is looked at first. The network is rebuilt here in numpy
(:class:`SileroVAD`; no torch), and as a plain :class:`torch.nn.Module`
(:class:`SileroVADNet`, in :mod:`affectkit.audio.vad_torch`, for tests and
references). Those weights are close to, but not the same numbers as, the package's
default TorchScript model (``silero_vad.jit``); ``tests/test_voice_activity.py`` checks
that the numpy network with the TorchScript model's weights reproduces its outputs,
and that the two weight sets make the same speech decisions on test audio.

Why a learned detector: the sound of the shared sample videos (a tonal/ambient music
bed at about -21 dBFS RMS, low room noise) is loud or stationary enough to pass an
energy threshold; Silero VAD is trained to tell speech from music and noise. Its
figures on EmoDB speech, on those clips and on generated noise and tones are in
``docs/audio.md``, written by ``benchmarks/voice_model.py``.

How speech is decided for the voice model's windows (:func:`window_speech`): a 32 ms
chunk is speech when its probability is at least :data:`SPEECH_THRESHOLD` (0.5,
Silero's default); a window is speech when it holds at least :data:`MIN_SPEECH_S`
seconds of speech chunks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from affectkit.paths import package_data_file

VAD_RATE = 16000
"""Sample rate, Hz, the detector runs at (other rates are resampled first)."""

CHUNK = 512
"""Samples per speech decision at 16 kHz (32 ms), the chunk size of Silero VAD."""

CHUNK_S = CHUNK / VAD_RATE
"""Seconds per speech decision (0.032)."""

CONTEXT = 64
"""Samples of the previous chunk prepended to each chunk, as Silero VAD does."""

SPEECH_THRESHOLD = 0.5
"""A 32 ms chunk is speech when its probability is at least this (Silero's default)."""

MIN_SPEECH_S = 0.5
"""A voice-model window is speech when it holds at least this many seconds of speech chunks."""

_BLOCK = 4096  # chunks per convolution pass (131 s of audio): bounds memory on long tracks

_KEYS = ("stft_conv.weight", "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight",
         "conv3.bias", "conv4.weight", "conv4.bias", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
         "lstm.bias_hh_l0", "final_conv.weight", "final_conv.bias")
"""The parameters of the network, by the names of :class:`~affectkit.audio.vad_torch.SileroVADNet`."""

_STRIDES = (1, 2, 2, 1)


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """``torch.nn.functional.conv1d(x, w, b, stride, padding=1)`` for a kernel of 3: ``(B, C, L)`` to ``(B, D, L')``."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    n = (xp.shape[-1] - 3) // stride + 1
    cols = np.stack([xp[:, :, k: k + stride * (n - 1) + 1: stride] for k in range(3)], -1)  # (B, C, n, 3)
    return np.einsum("bcnk,dck->bdn", cols, w, optimize=True) + b[None, :, None]


class SileroVAD:
    """The Silero VAD network (16 kHz branch) in numpy: no torch.

    Architecture (read from the ``silero-vad`` package's tinygrad reference model): a
    learned STFT (``Conv1d(1, 258, 256, stride 128)``, magnitude of 129 bins), four
    ``Conv1d`` + ReLU layers (129-128-64-64-128 channels, strides 1, 2, 2, 1), an
    LSTM cell of 128 units carried across chunks, and ``ReLU - Conv1d(128, 1, 1) -
    sigmoid``. Calling it maps ``(B, CONTEXT + CHUNK)`` ``float32`` chunks (consecutive,
    in time order, each starting with the last ``CONTEXT`` samples of the one before)
    and an optional LSTM state ``(h, c)`` to ``(B,)`` speech probabilities and the new
    state; the same as :class:`~affectkit.audio.vad_torch.SileroVADNet` to float32
    rounding.

    Parameters
    ----------
    state : dict of str to np.ndarray
        The parameters, named as :data:`_KEYS` (``lstm.*_l0``) or as the ``silero-vad``
        safetensors file names them (``lstm_cell.*``).

    Raises
    ------
    ValueError
        If a parameter is missing or of the wrong shape.
    """

    def __init__(self, state: dict):
        state = {k.replace("lstm_cell.", "lstm.").replace("_ih", "_ih_l0").replace("_hh", "_hh_l0")
                 if k.startswith("lstm_cell.") else k: np.asarray(v, np.float32) for k, v in state.items()}
        missing = [k for k in _KEYS if k not in state]
        if missing:
            raise ValueError(f"Silero VAD parameters missing: {', '.join(missing)}")
        shapes = {"stft_conv.weight": (258, 1, 256), "lstm.weight_ih_l0": (512, 128), "lstm.weight_hh_l0": (512, 128),
                  "final_conv.weight": (1, 128, 1)}
        for k, shape in shapes.items():
            if state[k].shape != shape:
                raise ValueError(f"Silero VAD parameter {k} has shape {state[k].shape}, expected {shape}")
        self.stft = state["stft_conv.weight"][:, 0, :].T.copy()  # (256, 258)
        self.convs = [(state[f"conv{i}.weight"], state[f"conv{i}.bias"], s) for i, s in zip(range(1, 5), _STRIDES)]
        self.w_ih = state["lstm.weight_ih_l0"].T.copy()
        self.w_hh = state["lstm.weight_hh_l0"].T.copy()
        self.b = state["lstm.bias_ih_l0"] + state["lstm.bias_hh_l0"]
        self.w_out = state["final_conv.weight"][0, :, 0]
        self.b_out = float(state["final_conv.bias"][0])

    def __call__(self, chunks: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None):
        chunks = np.asarray(chunks, np.float32)
        x = np.pad(chunks, ((0, 0), (0, 64)), mode="reflect")  # (B, 640)
        frames = np.lib.stride_tricks.sliding_window_view(x, 256, axis=1)[:, ::128]  # (B, 4, 256)
        spec = frames @ self.stft  # (B, 4, 258)
        x = np.sqrt(spec[..., :129] ** 2 + spec[..., 129:] ** 2).transpose(0, 2, 1)  # (B, 129, 4)
        for w, b, stride in self.convs:
            x = np.maximum(_conv1d(x, w, b, stride), 0)
        feats = x[:, :, 0]  # (B, 128): the sequence length is 1 after the strides
        gates_x = feats @ self.w_ih + self.b  # (B, 512), gate order i, f, g, o
        h, c = state if state is not None else (np.zeros(128, np.float32), np.zeros(128, np.float32))
        hs = np.empty((len(feats), 128), np.float32)
        w_hh = self.w_hh
        for t in range(len(feats)):
            g = gates_x[t] + h @ w_hh
            i, f, gg, o = g[:128], g[128:256], g[256:384], g[384:]
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
            h = _sigmoid(o) * np.tanh(c)
            hs[t] = h
        p = _sigmoid(np.maximum(hs, 0) @ self.w_out + self.b_out)
        return p.astype(np.float32), (h, c)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def __getattr__(name: str):
    # the torch module, for tests and references, imported only when asked for
    if name == "SileroVADNet":
        from affectkit.audio.vad_torch import SileroVADNet

        return SileroVADNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SILERO_INSTALL = "pip install --no-deps 'silero-vad==6.2.3'"
SILERO_FILE = "silero_vad_16k.safetensors"


def silero_weights_path() -> Path:
    """Path of ``silero_vad_16k.safetensors``: in ``$AFFECTKIT_WEIGHTS_DIR``, else the installed ``silero-vad``'s.

    The package is located without being imported (importing it imports torch and sets
    its global thread count to 1).

    Raises
    ------
    WeightsError
        One line naming the install command, if neither has the file.
    """
    from affectkit.errors import WeightsError

    path = package_data_file("silero_vad", SILERO_FILE)
    if path is None:
        raise WeightsError(f"Silero VAD weights {SILERO_FILE} not found: install them with `{SILERO_INSTALL}` "
                           "(the silero-vad wheel ships them; MIT)")
    return path


def silero_package_file(name: str) -> Path:
    """A file of the installed ``silero-vad`` package's ``data`` folder (e.g. ``silero_vad.jit``), for references.

    Raises
    ------
    WeightsError
        If the package (or the file) is not installed.
    """
    from affectkit.errors import WeightsError

    path = package_data_file("silero_vad", name, weights_dir=False)
    if path is not None:
        return path
    raise WeightsError(f"silero-vad's {name} is not installed: {SILERO_INSTALL}")


@lru_cache(maxsize=1)
def load_vad() -> SileroVAD:
    """The numpy Silero VAD network with its packaged weights (loaded once).

    Raises
    ------
    WeightsError
        If the weights are missing or do not fit the network.
    """
    from safetensors.numpy import load_file

    from affectkit.errors import WeightsError

    path = silero_weights_path()
    try:
        return SileroVAD(load_file(str(path)))
    except (ValueError, OSError) as exc:
        raise WeightsError(f"{path}: weights do not fit affectkit's Silero VAD network ({exc})") from None


def _as_numpy_net(net):
    """A :class:`SileroVAD` for ``net``, which may also be the torch :class:`SileroVADNet` (tests)."""
    if isinstance(net, SileroVAD):
        return net
    return SileroVAD({k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})


def speech_probability(wave: np.ndarray, sr: int = VAD_RATE) -> np.ndarray:
    """Speech probability of every 32 ms chunk of a wave (Silero VAD, in numpy).

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float mono samples in ``[-1, 1]``.
    sr : int
        Sample rate, Hz; resampled to 16 kHz (librosa, soxr) when different.

    Returns
    -------
    np.ndarray
        ``(ceil(N_16k / 512),)`` ``float32`` probabilities in ``[0, 1]``; chunk ``i``
        covers ``[i, i + 1) * 0.032`` s (the last one zero-padded). Empty for an empty
        wave.

    Raises
    ------
    ValueError
        If the wave is not 1-D or holds non-finite samples.
    WeightsError
        If the detector cannot be loaded (:func:`load_vad`).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or not np.isfinite(wave).all():
        raise ValueError(f"need a 1-D finite wave, got shape {wave.shape}")
    if sr != VAD_RATE and len(wave):
        import librosa

        wave = librosa.resample(wave, orig_sr=sr, target_sr=VAD_RATE).astype(np.float32)
    n = -(-len(wave) // CHUNK)
    if n == 0:
        return np.zeros(0, np.float32)
    padded = np.zeros(CONTEXT + n * CHUNK, np.float32)
    padded[CONTEXT: CONTEXT + len(wave)] = wave
    net = _as_numpy_net(load_vad())
    out, state = [], None
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        # chunk i = samples [i*512, i*512 + 576) of the padded wave: 64 context + 512 new
        seg = padded[start * CHUNK: stop * CHUNK + CONTEXT]
        chunks = np.lib.stride_tricks.sliding_window_view(seg, CONTEXT + CHUNK)[::CHUNK]
        p, state = net(chunks, state)
        out.append(p)
    return np.concatenate(out).astype(np.float32)


def window_speech(
    prob: np.ndarray,
    centres: np.ndarray,
    window_s: float,
    *,
    threshold: float = SPEECH_THRESHOLD,
) -> np.ndarray:
    """Seconds of speech inside each window, from per-chunk speech probabilities.

    Parameters
    ----------
    prob : np.ndarray
        ``(T,)`` float chunk probabilities of :func:`speech_probability` (32 ms chunks
        from time 0).
    centres : np.ndarray
        ``(W,)`` float window centres, seconds.
    window_s : float
        Window length, seconds; a window spans ``centre ± window_s / 2``.
    threshold : float
        A chunk is speech when its probability is at least this.

    Returns
    -------
    np.ndarray
        ``(W,)`` ``float64`` seconds of speech chunks (chunk centres inside the window)
        per window, a multiple of 0.032 s.
    """
    prob = np.asarray(prob, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1)
    counts = np.concatenate([[0], np.cumsum(prob >= threshold)])
    mid = (np.arange(len(prob)) + 0.5) * CHUNK_S
    lo = np.searchsorted(mid, centres - window_s / 2, side="left")
    hi = np.searchsorted(mid, centres + window_s / 2, side="right")
    return (counts[hi] - counts[lo]) * CHUNK_S


def detect_speech(wave: np.ndarray, sr: int = VAD_RATE, *, threshold: float = SPEECH_THRESHOLD) -> dict:
    """Summary of the speech in a whole wave (e.g. one utterance or one clip).

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float mono samples in ``[-1, 1]``.
    sr : int
        Sample rate, Hz.
    threshold : float
        Chunk probability at or above which a chunk is speech.

    Returns
    -------
    dict
        ``speech_s`` (seconds of speech chunks), ``duration_s``, ``speech_fraction``
        (of the chunks; 0 for an empty wave), ``max_prob``, and ``prob`` (the ``(T,)``
        ``float32`` chunk probabilities).
    """
    prob = speech_probability(wave, sr)
    speech = prob >= threshold
    return {"speech_s": float(speech.sum() * CHUNK_S), "duration_s": len(wave) / sr,
            "speech_fraction": float(speech.mean()) if len(prob) else 0.0,
            "max_prob": float(prob.max()) if len(prob) else 0.0, "prob": prob}
