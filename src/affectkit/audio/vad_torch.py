"""The Silero VAD network as a torch module (``affectkit[train]``): the reference for
the numpy network of :mod:`affectkit.audio.vad`, which inference uses."""

from __future__ import annotations

import torch
from torch import nn


class SileroVADNet(nn.Module):
    """The Silero VAD network (16 kHz branch) as a plain torch module.

    The same architecture as :class:`affectkit.audio.vad.SileroVAD`; ``forward`` maps
    ``(B, CONTEXT + CHUNK)`` ``float32`` chunks and an optional LSTM state to ``(B,)``
    speech probabilities and the new state.
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
