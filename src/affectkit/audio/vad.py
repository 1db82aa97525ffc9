"""Voice activity detection: which stretches of a sound track hold speech.

The detector is Silero VAD (Silero Team 2024, "Silero VAD: pre-trained enterprise-grade
Voice Activity Detector", https://github.com/snakers4/silero-vad, MIT licence), a
small convolutional + LSTM network that gives a speech probability for every 32 ms of
16 kHz audio. Its weights come from the ``silero-vad`` package on PyPI, which ships
them inside its wheel: nothing is downloaded at run time and no torch-hub or
TorchScript code is run. The network is rebuilt here as a plain
:class:`torch.nn.Module` (:class:`SileroVADNet`) and reads the package's
``silero_vad/data/silero_vad_16k.safetensors`` (the 16 kHz weights it ships for its
tinygrad port). Those weights are close to, but not the same numbers as, the package's
default TorchScript model (``silero_vad.jit``); ``tests/test_voice_activity.py`` checks
that :class:`SileroVADNet` with the TorchScript model's weights reproduces its outputs,
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

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

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


class SileroVADNet(nn.Module):
    """The Silero VAD network (16 kHz branch) as a plain torch module.

    Architecture (read from the ``silero-vad`` package's tinygrad reference model): a
    learned STFT (``Conv1d(1, 258, 256, stride 128)``, magnitude of 129 bins), four
    ``Conv1d`` + ReLU layers (129-128-64-64-128 channels, strides 1, 2, 2, 1), an
    ``LSTM`` of 128 units carried across chunks, and ``ReLU - Conv1d(128, 1, 1) -
    sigmoid``.

    ``forward`` maps ``(B, CONTEXT + CHUNK)`` ``float32`` chunks (consecutive, in time
    order, each starting with the last ``CONTEXT`` samples of the one before) and an
    optional LSTM state to ``(B,)`` speech probabilities and the new state.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, kernel_size=3, stride=1, padding=1)
        # an LSTM over the chunk sequence = Silero's LSTMCell stepped chunk by chunk
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.final_conv = nn.Conv1d(128, 1, kernel_size=1)

    def forward(self, chunks: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        x = nn.functional.pad(chunks.unsqueeze(1), (0, 64), mode="reflect")
        x = self.stft_conv(x)
        x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = torch.relu(conv(x))
        h, state = self.lstm(x.squeeze(-1).unsqueeze(0), state)  # (1, B, 128): one sequence
        p = torch.sigmoid(self.final_conv(torch.relu(h[0]).unsqueeze(-1)))
        return p.reshape(-1), state


def silero_weights_path() -> Path:
    """Path of ``silero_vad_16k.safetensors`` inside the installed ``silero-vad`` package.

    The package is located without being imported (importing it sets torch's global
    thread count to 1).

    Raises
    ------
    WeightsError
        If ``silero-vad`` is not installed, or is a version without that file.
    """
    from affectkit.errors import WeightsError

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("voice activity detection needs the silero-vad package: pip install 'silero-vad>=6.2.3'")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "silero_vad_16k.safetensors"
        if path.is_file():
            return path
    raise WeightsError("the installed silero-vad has no silero_vad_16k.safetensors: pip install 'silero-vad>=6.2.3'")


@lru_cache(maxsize=1)
def load_vad() -> SileroVADNet:
    """The Silero VAD network with its packaged weights (eval mode, CPU; loaded once).

    Raises
    ------
    WeightsError
        If ``silero-vad`` is missing or its weights do not fit the network.
    """
    from safetensors.torch import load_file

    from affectkit.errors import WeightsError

    path = silero_weights_path()
    state = load_file(str(path))
    # Silero's LSTMCell parameters are those of a one-layer LSTM under other names
    renamed = {k.replace("lstm_cell.", "lstm.").replace("_ih", "_ih_l0").replace("_hh", "_hh_l0")
               if k.startswith("lstm_cell.") else k: v for k, v in state.items()}
    net = SileroVADNet()
    try:
        net.load_state_dict(renamed)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: weights do not fit affectkit's Silero VAD network ({exc})") from None
    return net.eval()


def speech_probability(wave: np.ndarray, sr: int = VAD_RATE) -> np.ndarray:
    """Speech probability of every 32 ms chunk of a wave (Silero VAD).

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
    x = torch.from_numpy(padded)
    net = load_vad()
    out, state = [], None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network run once per track: threads only add overhead
    try:
        with torch.no_grad():
            for start in range(0, n, _BLOCK):
                stop = min(start + _BLOCK, n)
                # chunk i = samples [i*512, i*512 + 576) of the padded wave: 64 context + 512 new
                chunks = x[start * CHUNK: stop * CHUNK + CONTEXT].unfold(0, CONTEXT + CHUNK, CHUNK)
                p, state = net(chunks, state)
                out.append(p.numpy())
    finally:
        torch.set_num_threads(threads)
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
