"""Face sets as torch batches: the Dataset view of a FaceSet and the mixed-batch sampler."""

from __future__ import annotations

import numpy as np
import torch

from affectkit.data.faceset import FaceSet


class FaceDataset(torch.utils.data.Dataset):
    """Torch view of a :class:`FaceSet`.

    Each item is ``(image, label, va, soft)``: ``image`` ``(C, S, S)`` ``uint8``
    (``C`` 1 or 3), ``label`` ``int64`` scalar (``-1`` = none), ``va`` ``(2,)``
    ``float32`` (``NaN`` = none), ``soft`` ``(7,)`` ``float32`` expression
    distribution (``NaN`` = none).
    """

    def __init__(self, faces: FaceSet):
        x = torch.from_numpy(np.ascontiguousarray(faces.images))
        self.images = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
        self.labels = torch.from_numpy(faces.labels)
        self.va = torch.from_numpy(faces.va)
        soft = faces.soft if faces.soft is not None else np.full((len(faces), 7), np.nan, np.float32)
        self.soft = torch.from_numpy(np.ascontiguousarray(soft, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i], self.va[i], self.soft[i]


class MixedBatchSampler(torch.utils.data.Sampler):
    """Batches that each draw a fixed number of items from every part of a concatenated set.

    Used to train on one dataset while another is mixed into every batch, e.g. the
    default recipe's 128 FER-2013 faces (expression) and 16 DiffusionFER faces
    (expression and valence/arousal) per step. An epoch is one pass over the first
    part; the other parts are cycled, reshuffled whenever they run out. The order is a
    function of ``seed`` and the epoch (:meth:`set_epoch`, which Lightning calls), so a
    resumed run draws the same batches.

    Parameters
    ----------
    part_sizes : list of int
        Lengths of the parts, in concatenation order.
    per_batch : list of int
        Items drawn from each part per batch.
    seed : int

    Raises
    ------
    ValueError
        If the lists differ in length, or a part is smaller than its share of a batch.
    """

    def __init__(self, part_sizes: list[int], per_batch: list[int], seed: int = 0):
        if len(part_sizes) != len(per_batch) or not part_sizes:
            raise ValueError(f"mix_batch gives {len(per_batch)} counts for {len(part_sizes)} data parts")
        for n, k in zip(part_sizes, per_batch):
            if k < 1 or n < k:
                raise ValueError(f"a part of {n} faces cannot give {k} per batch")
        self.part_sizes, self.per_batch, self.seed = list(part_sizes), list(per_batch), seed
        self.offsets = np.concatenate([[0], np.cumsum(part_sizes)[:-1]]).tolist()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration draw epoch ``epoch``'s batches."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.part_sizes[0] // self.per_batch[0]

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        orders = [torch.randperm(n, generator=g) for n in self.part_sizes]
        pos = [0] * len(orders)
        for step in range(len(self)):
            batch = []
            for i, (n, k, off) in enumerate(zip(self.part_sizes, self.per_batch, self.offsets)):
                if pos[i] + k > n:
                    orders[i], pos[i] = torch.randperm(n, generator=g), 0
                batch += (orders[i][pos[i] : pos[i] + k] + off).tolist()
                pos[i] += k
            yield batch
