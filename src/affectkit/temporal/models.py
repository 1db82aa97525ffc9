"""Temporal models over sequences of per-frame face embeddings ("emotion over time").

Every sequence model takes a batch of per-frame embeddings ``x`` of shape
``(B, T, D)`` (floating point, normally float32) and an optional boolean
``mask`` of shape ``(B, T)`` in which ``True`` marks a real frame and ``False``
a padded one. ``mask=None`` means every frame is real. Each model returns a
dict with

``"clip"``
    ``(B, K)`` clip-level outputs: class logits, or ``K = 2`` for
    valence/arousal regression;
``"steps"``
    ``(B, T, K)`` per-step outputs, where the model supports them. Rows at
    padded positions are zero.

Padded frames never change the outputs at real frames or the clip outputs:
their content is ignored. Every sequence must contain at least one real frame.
The recurrent models (:class:`RecurrentHead`, :class:`TransformerLSTM`) also
need right padding: the real frames of each sequence come first.

:class:`C3D` is the exception: it works on stacked face crops
``(B, C, T, H, W)`` rather than embeddings, and returns ``"clip"`` only.

All invalid arguments and inputs raise :class:`ValueError`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = [
    "C3D",
    "TEMPORAL_MODELS",
    "FrameSelection",
    "MeanPooling",
    "RecurrentHead",
    "TransformerLSTM",
    "create_temporal_model",
]

#: Names accepted by :func:`create_temporal_model`.
TEMPORAL_MODELS: tuple[str, ...] = ("mean", "selection", "lstm", "gru", "transformer_lstm", "c3d")


# ----------------------------------------------------------------------------- helpers


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_sequence(x: Tensor, mask: Tensor | None, input_dim: int) -> Tensor:
    """Validate ``x`` (B, T, D) and ``mask`` (B, T); return the boolean mask (all True if None)."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a (B, T, D) tensor, got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    batch, steps, dim = x.shape
    if dim != input_dim:
        raise ValueError(f"x has embedding size {dim}, the model expects {input_dim}")
    if batch == 0 or steps == 0:
        raise ValueError(f"x must have at least one sequence and one step, got {tuple(x.shape)}")
    if mask is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=x.device)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a boolean tensor (True = real frame)")
    if tuple(mask.shape) != (batch, steps):
        raise ValueError(f"mask must have shape {(batch, steps)}, got {tuple(mask.shape)}")
    mask = mask.to(x.device)
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every sequence needs at least one real frame (a mask row is all False)")
    return mask


def _right_padded_lengths(mask: Tensor) -> Tensor:
    """Lengths (B,) of a right-padded mask; raise if real frames do not come first."""
    lengths = mask.sum(dim=1)
    positions = torch.arange(mask.shape[1], device=mask.device)
    if not torch.equal(mask, positions.unsqueeze(0) < lengths.unsqueeze(1)):
        raise ValueError("this model needs right-padded sequences: real frames first, padding last")
    return lengths


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` (B, T, F) over the real steps of ``mask`` (B, T) -> (B, F)."""
    weights = mask.to(values.dtype).unsqueeze(-1)
    # where() rather than multiplication, so NaN/inf garbage in padding cannot leak in.
    total = torch.where(mask.unsqueeze(-1), values, torch.zeros_like(values)).sum(dim=1)
    return total / weights.sum(dim=1)


def _zero_padding(steps: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask.unsqueeze(-1), steps, torch.zeros_like(steps))


# ----------------------------------------------------------------------------- models


class MeanPooling(nn.Module):
    """Masked mean over time followed by a linear head (the order-blind baseline).

    Parameters
    ----------
    input_dim : int
        Embedding size ``D`` of each frame.
    num_outputs : int
        Output size ``K`` (number of classes, or 2 for valence/arousal).

    Notes
    -----
    ``forward(x, mask=None)`` takes ``x`` of shape ``(B, T, D)`` (float) and an
    optional boolean ``mask`` ``(B, T)`` (True = real frame) and returns
    ``{"clip": (B, K), "steps": (B, T, K)}``: the clip output is the head applied
    to the mean of the real frames; ``steps`` is the same head applied to every
    frame (zero at padded positions). Because the head is linear, ``clip`` equals
    the masked mean of ``steps``. The model cannot see the order of frames.

    Raises
    ------
    ValueError
        If a size is not a positive integer; in ``forward``, if ``x`` is not a
        floating ``(B, T, D)`` tensor, if ``mask`` is not a boolean ``(B, T)``
        tensor, or if a sequence has no real frame.
    """

    def __init__(self, input_dim: int, num_outputs: int):
        super().__init__()
        self.input_dim = _positive_int("input_dim", input_dim)
        self.num_outputs = _positive_int("num_outputs", num_outputs)
        self.head = nn.Linear(input_dim, num_outputs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        mask = _check_sequence(x, mask, self.input_dim)
        clip = self.head(masked_mean(x, mask))
        steps = _zero_padding(self.head(x), mask)
        return {"clip": clip, "steps": steps}


class FrameSelection(nn.Module):
    """Per-chunk frame selection and pooling (Vielzeuf et al., 2018).

    After "An Occam's Razor View on Learning Audiovisual Emotion Recognition
    with Small Training Sets" (Vielzeuf, Kervadec, Pateux, Lechervy & Jurie,
    ICMI 2018): each frame gets a score from a linear scorer; the real frames
    of every sequence are split into ``n_chunks`` consecutive chunks of (nearly)
    equal size; the highest-scoring frame of each chunk is kept; the kept frames
    are pooled and passed to a linear head.

    Parameters
    ----------
    input_dim : int
        Embedding size ``D`` of each frame.
    num_outputs : int
        Output size ``K``.
    n_chunks : int
        Number of chunks ``n`` the sequence is split into along time.
    pooling : {"mean", "learned"}
        ``"mean"``: plain mean of the selected frames. ``"learned"``: weighted
        mean with weights ``softmax`` (over the chunks) of the selected frames'
        scores. With ``"mean"`` the scorer only chooses frames (the arg-max is not
        differentiable), so it receives no gradient; with ``"learned"`` it is
        trained through the pooling weights.

    Notes
    -----
    Chunks are defined on the real frames only: the ``r``-th real frame
    (``r = 0 .. L-1`` for a sequence with ``L`` real frames) falls in chunk
    ``floor(r * n / L)``. Padded frames are never selected, and the result does
    not depend on how much padding there is. If ``L < n`` some chunks hold no
    real frame; they are skipped (left out of the pooling). Ties are resolved in
    favour of the earliest frame.

    ``forward(x, mask=None)`` takes ``x`` ``(B, T, D)`` (float) and an optional
    boolean ``mask`` ``(B, T)`` and returns ``{"clip": (B, K), "steps": (B, T, K)}``
    where ``steps`` is the head applied to each frame (zero at padded positions).
    :meth:`select` exposes which frames are chosen.

    Raises
    ------
    ValueError
        If a size is not a positive integer or ``pooling`` is unknown; in
        ``forward``/``select``, for the input errors listed in :class:`MeanPooling`.
    """

    POOLINGS = ("mean", "learned")

    def __init__(self, input_dim: int, num_outputs: int, n_chunks: int, pooling: str = "mean"):
        super().__init__()
        self.input_dim = _positive_int("input_dim", input_dim)
        self.num_outputs = _positive_int("num_outputs", num_outputs)
        self.n_chunks = _positive_int("n_chunks", n_chunks)
        if pooling not in self.POOLINGS:
            raise ValueError(f"pooling must be one of {self.POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.scorer = nn.Linear(input_dim, 1)
        self.head = nn.Linear(input_dim, num_outputs)

    def scores(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Frame scores ``(B, T)``; ``-inf`` at padded frames."""
        mask = _check_sequence(x, mask, self.input_dim)
        return self._scores(x, mask)

    def _scores(self, x: Tensor, mask: Tensor) -> Tensor:
        raw = self.scorer(x).squeeze(-1)
        return raw.masked_fill(~mask, float("-inf"))

    def _select(self, scores: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
        rank = mask.long().cumsum(dim=1) - 1  # rank of each real frame among the real ones
        chunk = torch.div(rank * self.n_chunks, lengths, rounding_mode="floor")  # (B, T)
        ids = torch.arange(self.n_chunks, device=scores.device)
        member = (chunk.unsqueeze(1) == ids.view(1, -1, 1)) & mask.unsqueeze(1)  # (B, n, T)
        chunk_scores = scores.unsqueeze(1).masked_fill(~member, float("-inf"))
        valid = member.any(dim=2)  # (B, n)
        indices = chunk_scores.argmax(dim=2)  # first maximum on ties
        return torch.where(valid, indices, torch.full_like(indices, -1)), valid

    def select(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Indices of the selected frames.

        Parameters
        ----------
        x : Tensor
            ``(B, T, D)`` float embeddings.
        mask : Tensor, optional
            ``(B, T)`` bool, True = real frame.

        Returns
        -------
        indices : Tensor
            ``(B, n_chunks)`` int64 time index of the highest-scoring real frame
            of each chunk, ``-1`` for a chunk without real frames.
        valid : Tensor
            ``(B, n_chunks)`` bool, False for skipped (empty) chunks.
        """
        mask = _check_sequence(x, mask, self.input_dim)
        return self._select(self._scores(x, mask), mask)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        mask = _check_sequence(x, mask, self.input_dim)
        scores = self._scores(x, mask)
        indices, valid = self._select(scores, mask)
        safe = indices.clamp(min=0)
        picked = torch.gather(x, 1, safe.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # (B, n, D)
        if self.pooling == "mean":
            weights = valid.to(x.dtype)
            weights = weights / weights.sum(dim=1, keepdim=True)
        else:
            picked_scores = torch.gather(scores, 1, safe).masked_fill(~valid, float("-inf"))
            weights = torch.softmax(picked_scores, dim=1)
        picked = torch.where(valid.unsqueeze(-1), picked, torch.zeros_like(picked))
        pooled = (weights.unsqueeze(-1) * picked).sum(dim=1)
        return {"clip": self.head(pooled), "steps": _zero_padding(self.head(x), mask)}


class RecurrentHead(nn.Module):
    """CNN-RNN: a recurrent network over per-frame CNN embeddings (Ouyang et al., 2017).

    After "Audio-visual emotion recognition using deep transfer learning and
    multiple temporal models" (Ouyang, Kawaai, Goh, Shen, Ding, Ming & Huang,
    ICMI 2017 / EmotiW), whose CNN-RNN runs an LSTM over frame features.

    Parameters
    ----------
    input_dim : int
        Embedding size ``D`` of each frame.
    num_outputs : int
        Output size ``K``.
    hidden : int
        Hidden size of the recurrent cell (per direction).
    cell : {"lstm", "gru"}
        The recurrent cell.
    bidirectional : bool
        Run a second cell backwards in time and concatenate both directions.
    num_layers : int
        Number of stacked recurrent layers.

    Notes
    -----
    ``forward(x, mask=None)`` takes ``x`` ``(B, T, D)`` (float) and an optional
    right-padded boolean ``mask`` ``(B, T)``. Sequences are packed with
    :func:`torch.nn.utils.rnn.pack_padded_sequence` using the mask lengths, so
    padded frames are never read. Returns

    - ``"clip"`` ``(B, K)``: a linear head on the last valid hidden state of the
      top layer (bidirectional: the forward state at the last real frame
      concatenated with the backward state at the first frame);
    - ``"steps"`` ``(B, T, K)``: the same head on the hidden state of each step
      (zero at padded positions).

    For a unidirectional model the clip output equals the step output at the
    last real frame.

    Raises
    ------
    ValueError
        If a size is not a positive integer or ``cell`` is unknown; in
        ``forward``, for the input errors listed in :class:`MeanPooling`, or if
        the mask is not right-padded.
    """

    CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(
        self,
        input_dim: int,
        num_outputs: int,
        hidden: int = 128,
        cell: str = "lstm",
        bidirectional: bool = False,
        num_layers: int = 1,
    ):
        super().__init__()
        self.input_dim = _positive_int("input_dim", input_dim)
        self.num_outputs = _positive_int("num_outputs", num_outputs)
        self.hidden = _positive_int("hidden", hidden)
        self.num_layers = _positive_int("num_layers", num_layers)
        if cell not in self.CELLS:
            raise ValueError(f"cell must be one of {tuple(self.CELLS)}, got {cell!r}")
        self.cell = cell
        self.bidirectional = bool(bidirectional)
        self.rnn = self.CELLS[cell](
            input_dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=self.bidirectional
        )
        self.head = nn.Linear(hidden * (2 if self.bidirectional else 1), num_outputs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        mask = _check_sequence(x, mask, self.input_dim)
        lengths = _right_padded_lengths(mask)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        h_n = state[0] if self.cell == "lstm" else state  # (layers * dirs, B, H), original order
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.bidirectional else h_n[-1]
        return {"clip": self.head(last), "steps": _zero_padding(self.head(out), mask)}


class _SinusoidalPositions(nn.Module):
    """Fixed sine/cosine position table (Vaswani et al., 2017) for an even ``d_model``."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model

    def forward(self, steps: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        position = torch.arange(steps, device=device, dtype=torch.float32).unsqueeze(1)
        even = torch.arange(0, self.d_model, 2, device=device, dtype=torch.float32)
        freq = torch.exp(even * (-math.log(10000.0) / self.d_model))
        table = torch.zeros(steps, self.d_model, device=device)
        table[:, 0::2] = torch.sin(position * freq)
        table[:, 1::2] = torch.cos(position * freq)
        return table.to(dtype)


class TransformerLSTM(nn.Module):
    """Transformer encoder followed by an LSTM decoder (Jin et al., 2019).

    After Jin et al. (2019), who combine a Transformer encoder with an LSTM
    to predict emotion frame by frame over time: frame embeddings are projected
    to ``d_model``, given positional encodings, contextualised by a Transformer
    encoder (padded frames masked out of the attention through
    ``src_key_padding_mask``), then decoded step by step by an LSTM and a linear
    head.

    Parameters
    ----------
    input_dim : int
        Embedding size ``D`` of each frame.
    num_outputs : int
        Output size ``K``.
    d_model : int
        Width of the Transformer; must be divisible by ``heads`` (and even for
        sinusoidal positions).
    heads : int
        Attention heads.
    layers : int
        Transformer encoder layers.
    lstm_hidden : int
        Hidden size of the LSTM decoder.
    positional : {"sinusoidal", "learned"}
        Fixed sinusoidal encodings (any length) or a learned table of
        ``max_len`` positions.
    max_len : int
        Longest sequence accepted with learned positions.
    dropout : float
        Dropout inside the Transformer layers (inactive in eval mode).

    Notes
    -----
    ``forward(x, mask=None)`` takes ``x`` ``(B, T, D)`` (float) and an optional
    right-padded boolean ``mask`` ``(B, T)``; returns ``"steps"`` ``(B, T, K)``
    (zero at padded positions) and ``"clip"`` ``(B, K)``, the masked mean of
    ``steps`` over the real frames.

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``d_model`` is not divisible by
        ``heads`` (or odd with sinusoidal positions), ``positional`` is unknown or
        ``dropout`` is outside [0, 1); in ``forward``, for the input errors listed
        in :class:`MeanPooling`, if the mask is not right-padded, or if ``T``
        exceeds ``max_len`` with learned positions.
    """

    POSITIONALS = ("sinusoidal", "learned")

    def __init__(
        self,
        input_dim: int,
        num_outputs: int,
        d_model: int = 128,
        heads: int = 4,
        layers: int = 2,
        lstm_hidden: int = 64,
        positional: str = "sinusoidal",
        max_len: int = 512,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.input_dim = _positive_int("input_dim", input_dim)
        self.num_outputs = _positive_int("num_outputs", num_outputs)
        _positive_int("d_model", d_model)
        _positive_int("heads", heads)
        _positive_int("layers", layers)
        _positive_int("lstm_hidden", lstm_hidden)
        self.max_len = _positive_int("max_len", max_len)
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        if positional not in self.POSITIONALS:
            raise ValueError(f"positional must be one of {self.POSITIONALS}, got {positional!r}")
        if positional == "sinusoidal" and d_model % 2:
            raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.positional = positional
        self.input_proj = nn.Linear(input_dim, d_model)
        if positional == "learned":
            self.positions = nn.Parameter(torch.zeros(max_len, d_model))
            nn.init.normal_(self.positions, std=0.02)
        else:
            self.sinusoid = _SinusoidalPositions(d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=float(dropout), batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.decoder = nn.LSTM(d_model, lstm_hidden, batch_first=True)
        self.head = nn.Linear(lstm_hidden, num_outputs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        mask = _check_sequence(x, mask, self.input_dim)
        lengths = _right_padded_lengths(mask)
        steps_count = x.shape[1]
        # Padded frames may hold garbage (even NaN); zero them so nothing can leak.
        x = torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))
        h = self.input_proj(x)
        if self.positional == "learned":
            if steps_count > self.max_len:
                raise ValueError(f"sequence length {steps_count} exceeds max_len {self.max_len}")
            h = h + self.positions[:steps_count].to(h.dtype)
        else:
            h = h + self.sinusoid(steps_count, h.device, h.dtype)
        h = self.encoder(h, src_key_padding_mask=~mask)
        packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.decoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps_count)
        steps = _zero_padding(self.head(out), mask)
        return {"clip": masked_mean(steps, mask), "steps": steps}


class C3D(nn.Module):
    """A small 3D convolutional network on stacked face crops (after Tran et al., 2015).

    After "Learning Spatiotemporal Features with 3D Convolutional Networks"
    (Tran, Bourdev, Fergus, Torresani & Paluri, ICCV 2015): 3x3x3 convolutions
    throughout, the first pooling spatial only (1x2x2), the later ones 2x2x2.
    This is a reduced version: three Conv3d + BatchNorm3d + ReLU + MaxPool3d
    blocks of widths ``width``, ``2*width``, ``4*width``, global average
    pooling and a linear head.

    Unlike the other models it does **not** take per-frame embeddings: its
    input is the clip of face crops itself, ``x`` of shape ``(B, C, T, H, W)``
    (float; ``C`` channels, e.g. 1 for grayscale), with ``T >= 4``, ``H >= 8``
    and ``W >= 8``. It has no mask: every clip in a batch has ``T`` real frames.
    It returns ``{"clip": (B, K)}`` only.

    Parameters
    ----------
    in_channels : int
        Channels ``C`` of the crops.
    num_outputs : int
        Output size ``K`` (keyword only).
    width : int
        Channels of the first block.

    Raises
    ------
    ValueError
        If a size is not a positive integer; in ``forward``, if ``x`` is not a
        floating ``(B, C, T, H, W)`` tensor with the expected channels and
        minimum sizes, or if a ``mask`` is passed.
    """

    def __init__(self, in_channels: int = 1, *, num_outputs: int, width: int = 32):
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.num_outputs = _positive_int("num_outputs", num_outputs)
        self.width = _positive_int("width", width)

        def block(cin: int, cout: int, pool: tuple[int, int, int]) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm3d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool3d(pool),
            )

        self.features = nn.Sequential(
            block(in_channels, width, (1, 2, 2)),
            block(width, 2 * width, (2, 2, 2)),
            block(2 * width, 4 * width, (2, 2, 2)),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_outputs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        if mask is not None:
            raise ValueError("C3D takes no mask: every clip in a batch must have T real frames")
        if not isinstance(x, Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a (B, C, T, H, W) tensor of face crops, got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
        batch, channels, steps, height, width = x.shape
        if channels != self.in_channels:
            raise ValueError(f"x has {channels} channels, the model expects {self.in_channels}")
        if batch == 0 or steps < 4 or height < 8 or width < 8:
            raise ValueError(f"x needs B >= 1, T >= 4, H >= 8 and W >= 8, got {tuple(x.shape)}")
        return {"clip": self.head(self.features(x))}


# ----------------------------------------------------------------------------- factory


def create_temporal_model(name: str, **kwargs) -> nn.Module:
    """Build a temporal model by name.

    Parameters
    ----------
    name : str
        One of :data:`TEMPORAL_MODELS`: ``"mean"`` (:class:`MeanPooling`),
        ``"selection"`` (:class:`FrameSelection`), ``"lstm"`` / ``"gru"``
        (:class:`RecurrentHead` with that cell), ``"transformer_lstm"``
        (:class:`TransformerLSTM`), ``"c3d"`` (:class:`C3D`).
    **kwargs
        Passed to the model's constructor (e.g. ``input_dim=512, num_outputs=7``).

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        If ``name`` is unknown (the message lists the names), if ``cell`` is
        given for ``"lstm"``/``"gru"`` and disagrees with the name, or if the
        constructor rejects an argument.
    """
    if name not in TEMPORAL_MODELS:
        raise ValueError(f"unknown temporal model {name!r}; choose one of: {', '.join(TEMPORAL_MODELS)}")
    if name in ("lstm", "gru"):
        cell = kwargs.pop("cell", name)
        if cell != name:
            raise ValueError(f"model {name!r} cannot use cell={cell!r}")
        return RecurrentHead(cell=name, **kwargs)
    builders = {
        "mean": MeanPooling,
        "selection": FrameSelection,
        "transformer_lstm": TransformerLSTM,
        "c3d": C3D,
    }
    return builders[name](**kwargs)
