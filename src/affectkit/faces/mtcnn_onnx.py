"""MTCNN on ONNX Runtime: the face detector of :class:`~affectkit.faces.detect.MTCNNDetector`, without torch.

MTCNN: Zhang, Zhang, Li & Qiao 2016, "Joint Face Detection and Alignment using
Multi-task Cascaded Convolutional Networks", IEEE Signal Processing Letters 23(10),
1499-1503. Three networks in cascade: the P-net proposes windows over an image
pyramid, the R-net rejects and refines them, the O-net scores them and gives five
landmarks.

The networks are facenet-pytorch's (weights MIT), exported by ``affectkit export mtcnn``
(:func:`~affectkit.models.export.export_mtcnn_onnx`). ``affectkit/weights/mtcnn`` ships
the three graphs without their weights; these are read when the detector loads from
the installed facenet-pytorch wheel (:mod:`affectkit.faces.mtcnn_weights`). Everything around them is a faithful numpy port of
facenet-pytorch 2.5.3's ``detect_face`` and ``MTCNN.detect``: the same pyramid
(``12 / min_face_size`` times ``factor`` per level), the same area resampling
(``interpolate(mode="area")``, i.e. adaptive average pooling, read off one summed-area
table per frame for the pyramid and the crops alike), the same window
generation, non-maximum suppression (torchvision's IoU NMS per image at 0.5 and 0.7,
then the "Min" NMS at 0.7 after the O-net), box regression, squaring, clipping
and landmark calibration, in ``float32`` as there. Boxes and landmarks agree with
facenet-pytorch's to a small fraction of a pixel (tests/test_onnx_export.py).

Neither importing nor running this module imports torch.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.errors import WeightsError, printable
from affectkit.faces.batching import padded_size
from affectkit.faces.mtcnn_weights import mtcnn_initializers
from affectkit.faces.types import Face
from affectkit.onnxrt import check_names, read_json, session

NETS = ("pnet", "rnet", "onet")
_F = np.float32


def bundled_mtcnn_dir() -> Path:
    """The folder of the ONNX MTCNN that ships in the package (``affectkit/weights/mtcnn``)."""
    return Path(str(resources.files("affectkit") / "weights" / "mtcnn"))


# ----------------------------------------------------------------------------- numpy port


def integral(frame: np.ndarray) -> np.ndarray:
    """Summed-area table of an RGB frame (``cv2.integral``): ``S[y, x]`` sums ``frame[:y, :x]``.

    Parameters
    ----------
    frame : np.ndarray
        ``(H, W, 3)`` ``uint8``.

    Returns
    -------
    np.ndarray
        ``(H + 1, W + 1, 3)``, ``int32`` (``float64`` for frames so large that a sum
        could pass 2**31); sums of integers, so exact.
    """
    import cv2

    h, w = frame.shape[:2]
    depth = cv2.CV_32S if h * w * 255 < 2**31 else cv2.CV_64F
    return cv2.integral(np.ascontiguousarray(frame), sdepth=depth).reshape(h + 1, w + 1, -1)


def area_pool(table: np.ndarray, y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray,
              size: tuple[int, int]) -> np.ndarray:
    """Regions of a frame resampled as ``torch.nn.functional.interpolate(mode="area")`` does.

    Area interpolation is adaptive average pooling: output row ``i`` of a region of
    ``n`` rows averages its rows ``floor(i n / h)`` to ``ceil((i + 1) n / h) - 1`` (and
    likewise columns), which also enlarges (by repetition). Each average is read off
    the summed-area table in four look-ups, so a pyramid level or a batch of crops costs
    its output size, not the frame's.

    Parameters
    ----------
    table : np.ndarray
        :func:`integral` of the frame.
    y0, y1, x0, x1 : np.ndarray
        ``(K,)`` integer region bounds, pixels, ``y0 < y1 <= H`` and ``x0 < x1 <= W``.
    size : (int, int)
        Output ``(h, w)``.

    Returns
    -------
    np.ndarray
        ``(K, C, h, w)`` ``float32``, C the frame's channels.
    """
    h, w = size
    ry, rx = (np.asarray(y1) - y0)[:, None], (np.asarray(x1) - x0)[:, None]
    i, j = np.arange(h), np.arange(w)
    ys, ye = np.asarray(y0)[:, None] + (i * ry) // h, np.asarray(y0)[:, None] - ((-(i + 1) * ry) // h)
    xs, xe = np.asarray(x0)[:, None] + (j * rx) // w, np.asarray(x0)[:, None] - ((-(j + 1) * rx) // w)
    ys, ye, xs, xe = ys[:, :, None], ye[:, :, None], xs[:, None, :], xe[:, None, :]
    sums = table[ye, xe] - table[ys, xe] - table[ye, xs] + table[ys, xs]  # (K, h, w, C)
    count = ((ye - ys) * (xe - xs))[..., None]
    return (sums / count).astype(_F).transpose(0, 3, 1, 2)


def pool_frame(table: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A whole frame resampled as :func:`area_pool` does, in two passes (rows, then columns).

    Equal to ``area_pool(table, [0], [H], [0], [W], size)`` to the bit, about twice as
    fast: the windows of a whole-frame level are the same in every row (and column),
    so the row sums are taken once, as whole rows of the summed-area table.

    Returns
    -------
    np.ndarray
        ``(1, C, h, w)`` ``float32``.
    """
    H, W = table.shape[0] - 1, table.shape[1] - 1
    h, w = size
    i, j = np.arange(h), np.arange(w)
    ys, ye = (i * H) // h, -((-(i + 1) * H) // h)
    xs, xe = (j * W) // w, -((-(j + 1) * W) // w)
    rows = table[ye] - table[ys]  # (h, W + 1, C): sums over each output row's input rows
    sums = rows[:, xe] - rows[:, xs]  # (h, w, C)
    count = ((ye - ys)[:, None] * (xe - xs)[None, :])[..., None]
    return (sums / count).astype(_F).transpose(2, 0, 1)[None]


def _normalise(x: np.ndarray) -> np.ndarray:
    return ((x - _F(127.5)) * _F(0.0078125)).astype(_F)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision's ``nms``: greedy IoU suppression, highest score first.

    Parameters
    ----------
    boxes : np.ndarray
        ``(K, 4)`` ``float32`` ``x1, y1, x2, y2``.
    scores : np.ndarray
        ``(K,)``.
    threshold : float
        A box whose IoU with a kept box is above this is dropped.

    Returns
    -------
    np.ndarray
        ``int64`` indices of the kept boxes, by decreasing score.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(_F(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(_F(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > threshold)]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, idxs: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision's ``batched_nms``: :func:`nms` within each image index, kept indices by decreasing score."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    keep = np.concatenate([np.flatnonzero(idxs == i)[nms(boxes[idxs == i], scores[idxs == i], threshold)]
                           for i in np.unique(idxs)])
    return keep[np.argsort(-scores[keep], kind="stable")]


def _nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """facenet-pytorch's ``nms_numpy`` with the ``"Min"`` overlap (areas with +1)."""
    if boxes.size == 0:
        return np.empty((0, 3))
    x1, y1, x2, y2 = (boxes[:, k].copy() for k in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    pick = np.zeros_like(scores, dtype=np.int16)
    counter = 0
    while order.size > 0:
        i = order[-1]
        pick[counter] = i
        counter += 1
        idx = order[0:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[idx]) - np.maximum(x1[i], x1[idx]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[idx]) - np.maximum(y1[i], y1[idx]) + 1)
        o = w * h / np.minimum(area[i], area[idx])
        order = order[np.where(o <= threshold)]
    return pick[:counter].copy()


def _batched_nms_min(boxes: np.ndarray, scores: np.ndarray, idxs: np.ndarray, threshold: float) -> np.ndarray:
    """facenet-pytorch's ``batched_nms_numpy``: images kept apart by a coordinate offset."""
    if boxes.size == 0:
        return np.zeros(0, np.int64)
    offsets = idxs.astype(_F) * (boxes.max() + _F(1))
    return _nms_min(boxes + offsets[:, None], scores, threshold).astype(np.int64)


def _generate_boxes(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float):
    """Windows of the P-net map whose face score reaches ``threshold`` (``generateBoundingBox``).

    Returns ``(K, 9)`` ``float32`` rows ``x1, y1, x2, y2, score, dx1, dy1, dx2, dy2`` in
    image pixels, and the ``(K,)`` image index of each.
    """
    n, yy, xx = np.nonzero(prob >= threshold)
    score = prob[n, yy, xx]
    r = reg[n, :, yy, xx]  # (K, 4)
    bb = np.stack([xx, yy], 1).astype(_F)
    s = _F(scale)
    q1 = np.floor((_F(2) * bb + _F(1)) / s)
    q2 = np.floor((_F(2) * bb + _F(12)) / s)
    return np.concatenate([q1, q2, score[:, None], r], 1).astype(_F), n.astype(np.int64)


def _bbreg(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + _F(1)
    h = boxes[:, 3] - boxes[:, 1] + _F(1)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + reg[:, 0] * w
    out[:, 1] = boxes[:, 1] + reg[:, 1] * h
    out[:, 2] = boxes[:, 2] + reg[:, 2] * w
    out[:, 3] = boxes[:, 3] + reg[:, 3] * h
    return out


def _rerec(boxes: np.ndarray) -> np.ndarray:
    """Square the boxes about their centres (side: the longer side)."""
    out = boxes.copy()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * _F(0.5) - side * _F(0.5)
    out[:, 1] = boxes[:, 1] + h * _F(0.5) - side * _F(0.5)
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _pad(boxes: np.ndarray, w: int, h: int):
    """Integer boxes clipped to the image (1-based start, exclusive end), as facenet-pytorch's ``pad``."""
    b = np.trunc(boxes[:, :4]).astype(np.int32)
    x, y, ex, ey = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    x[x < 1] = 1
    y[y < 1] = 1
    ex[ex > w] = w
    ey[ey > h] = h
    return y, ey, x, ex


class OnnxMTCNN:
    """MTCNN face detection with five landmarks (Zhang et al. 2016) on ONNX Runtime.

    A drop-in for :class:`~affectkit.faces.detect.MTCNNDetector` (same parameters,
    defaults and :meth:`detect_batch` output), whose networks and post-processing run
    without torch.

    Parameters
    ----------
    min_face_size : int
        Smallest face side searched, pixels (the pyramid starts at ``12 / min_face_size``).
    thresholds : (float, float, float)
        P-, R- and O-net score thresholds.
    min_score : float
        Faces scoring below this are dropped by :meth:`detect_batch`.
    factor : float
        Scale step between pyramid levels.
    model_dir : str or Path, optional
        Folder with ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx`` and ``mtcnn.json``
        (``affectkit export mtcnn -o DIR``); default the bundled copy.
    threads : int, optional
        ONNX Runtime intra-op threads per network; None or 0 lets it choose.

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if a network or the card is missing
        or malformed, facenet-pytorch's weights are not installed (the message names
        the command), or onnxruntime is not installed.
    """

    name = "mtcnn"

    def __init__(self, min_face_size: int = 40, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 min_score: float = 0.9, factor: float = 0.709, model_dir: str | Path | None = None,
                 threads: int | None = None):
        if isinstance(min_face_size, bool) or not isinstance(min_face_size, (int, np.integer)) or min_face_size < 1:
            raise ValueError(f"min_face_size must be a positive integer (pixels), got {min_face_size!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.min_score = min_score
        self.factor = factor
        self.model_dir = Path(model_dir) if model_dir is not None else bundled_mtcnn_dir()
        card_file = self.model_dir / "mtcnn.json"
        if self.model_dir.is_file():
            raise WeightsError(f"{printable(self.model_dir)}: is a file; give the folder of the MTCNN ONNX networks")
        if not card_file.exists() and not self.model_dir.is_dir():
            raise WeightsError(f"{printable(self.model_dir)}: MTCNN ONNX folder not found "
                               "(affectkit export mtcnn -o DIR writes one)")
        self.card = read_json(card_file)
        nets = self.card.get("onnx", {}).get("networks") if isinstance(self.card.get("onnx"), dict) else None
        if not isinstance(nets, dict) or any(not isinstance(nets.get(n), dict) for n in NETS):
            raise WeightsError(f"{printable(card_file)}: model card has no 'onnx.networks' for {', '.join(NETS)}")
        self._sessions = {}
        self._inputs = {}
        for n in NETS:
            sec = nets[n]
            path = self.model_dir / str(sec.get("file", f"{n}.onnx"))
            sess = session(path, threads=threads, what=f"MTCNN {n} ONNX model",
                           initializers=mtcnn_initializers(sec, card_file))
            check_names(sess, sec.get("input_names", []), sec.get("output_names", []), path)
            self._sessions[n] = sess
            self._inputs[n] = sec["input_names"][0]

    # ------------------------------------------------------------------ networks

    def _run(self, net: str, x: np.ndarray, pad: bool = True) -> list[np.ndarray]:
        """Run one network; R- and O-net batches are zero-padded to :func:`padded_size` (bounded shapes)."""
        n = len(x)
        if pad and padded_size(n) > n:
            x = np.concatenate([x, np.zeros((padded_size(n) - n, *x.shape[1:]), _F)])
        outs = self._sessions[net].run(None, {self._inputs[net]: np.ascontiguousarray(x, dtype=_F)})
        return [o[:n] for o in outs]

    @staticmethod
    def _crops(tables: list[np.ndarray], boxes: np.ndarray, inds: np.ndarray, side: int, w: int, h: int):
        """Normalised ``(K, 3, side, side)`` area-resampled crops of the boxes clipped to the frame,
        and a mask of the boxes whose clipped crop is not empty (the others are zeros)."""
        y, ey, x, ex = _pad(boxes, w, h)
        ok = (ey > y - 1) & (ex > x - 1)
        out = np.zeros((len(boxes), 3, side, side), _F)
        for b in np.unique(inds):
            k = np.flatnonzero(ok & (inds == b))
            if len(k):
                out[k] = area_pool(tables[b], y[k] - 1, ey[k], x[k] - 1, ex[k], (side, side))
        return _normalise(out), ok

    def _onet(self, tables: list[np.ndarray], boxes: np.ndarray, inds: np.ndarray, w: int, h: int):
        """MTCNN's third stage on square candidate boxes: O-net scores, box regression, five
        landmarks and the "Min" NMS. Returns ``(K, 5)`` boxes with scores, their image
        indices, and ``(K, 5, 2)`` landmarks (pixels), for the boxes scoring above the
        O-net threshold."""
        points = np.zeros((0, 5, 2), _F)
        if not len(boxes):
            return np.zeros((0, 5), _F), np.zeros(0, np.int64), points
        x, ok = self._crops(tables, boxes, inds, 48, w, h)
        reg, lms, prob = self._run("onet", x)
        score = np.where(ok, prob[:, 1], -np.inf).astype(_F)
        keep = score > self.thresholds[2]
        lms = lms[keep]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], 1)
        inds, mv = inds[keep], reg[keep]
        w_i = boxes[:, 2] - boxes[:, 0] + _F(1)
        h_i = boxes[:, 3] - boxes[:, 1] + _F(1)
        px = w_i[:, None] * lms[:, :5] + boxes[:, 0, None] - _F(1)
        py = h_i[:, None] * lms[:, 5:10] + boxes[:, 1, None] - _F(1)
        points = np.stack([px, py], 2).astype(_F)
        boxes = _bbreg(boxes, mv)
        pick = _batched_nms_min(boxes[:, :4], boxes[:, 4], inds, 0.7)
        return boxes[pick], inds[pick], points[pick]

    def detect_arrays(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Detect faces in a batch of equal-size frames: facenet-pytorch's ``MTCNN.detect``.

        Parameters
        ----------
        frames : np.ndarray
            ``(N, H, W, 3)`` RGB ``uint8`` (or one ``(H, W, 3)`` frame).

        Returns
        -------
        list of (boxes, scores, landmarks)
            Per frame: ``boxes`` ``(K, 4)`` ``float32`` ``x1, y1, x2, y2`` pixels,
            ``scores`` ``(K,)`` ``float32`` O-net face probability, ``landmarks``
            ``(K, 5, 2)`` ``float32`` ``(x, y)`` pixels of the left eye, right eye, nose,
            left and right mouth corners; largest box first (facenet-pytorch's
            ``select_largest``). No score filter beyond the three thresholds.
        """
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8:
            frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
        n_img = len(frames)
        h, w = frames.shape[1:3]
        tables = [integral(f) for f in frames]
        t0, t1 = self.thresholds[:2]

        # Image pyramid: the smallest face becomes 12 px, the P-net's window.
        m = 12.0 / self.min_face_size
        minl = min(h, w) * m
        scales, scale = [], m
        while minl >= 12:
            scales.append(scale)
            scale *= self.factor
            minl *= self.factor

        # First stage: P-net over each level, NMS per level and image, then per image.
        boxes, inds = [], []
        for scale in scales:
            size = (int(h * scale + 1), int(w * scale + 1))
            level = _normalise(np.concatenate([pool_frame(t, size) for t in tables]))
            reg, prob = self._run("pnet", level, pad=False)
            b, i = _generate_boxes(reg, prob[:, 1], scale, t0)
            pick = batched_nms(b[:, :4], b[:, 4], i, 0.5)
            boxes.append(b[pick])
            inds.append(i[pick])
        boxes = np.concatenate(boxes) if boxes else np.zeros((0, 9), _F)
        inds = np.concatenate(inds) if inds else np.zeros(0, np.int64)
        pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes, inds = boxes[pick], inds[pick]
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        boxes = np.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                          boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]], 1)
        boxes = _rerec(boxes.astype(_F))

        # Second stage: R-net on 24 x 24 crops.
        if len(boxes):
            x, ok = self._crops(tables, boxes, inds, 24, w, h)
            reg, prob = self._run("rnet", x)
            score = np.where(ok, prob[:, 1], -np.inf).astype(_F)
            keep = score > t1
            boxes = np.concatenate([boxes[keep, :4], score[keep, None]], 1)
            inds, mv = inds[keep], reg[keep]
            pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
            boxes, inds, mv = boxes[pick], inds[pick], mv[pick]
            boxes = _rerec(_bbreg(boxes, mv))

        # Third stage: O-net on 48 x 48 crops; landmarks; "Min" NMS.
        boxes, inds, points = self._onet(tables, boxes, inds, w, h)
        out = []
        for b in range(n_img):
            sel = inds == b
            bx, pt = boxes[sel].astype(_F), points[sel].astype(_F)
            order = np.argsort((bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1]))[::-1]
            bx, pt = bx[order], pt[order]
            out.append((bx[:, :4].copy(), bx[:, 4].copy(), pt))
        return out

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in RGB ``uint8`` ``(H, W, 3)`` frames (the :class:`~affectkit.faces.detect.FaceDetector` protocol).

        Frames of equal size run as one batch. A frame whose shorter side is below
        ``min_face_size`` gets no faces without running the networks.

        Returns
        -------
        list of list of Face
            Per frame, faces scoring at least ``min_score``, largest first: ``box``
            ``(x, y, width, height)`` pixels, ``score``, ``landmarks`` ``(5, 2)``.
        """
        if not frames:
            return []
        out: list[list[Face]] = [[] for _ in frames]
        fits = [i for i, f in enumerate(frames) if min(f.shape[:2]) >= self.min_face_size]
        same = all(frames[i].shape == frames[fits[0]].shape for i in fits)
        groups = [fits] if same else [[i] for i in fits]
        for idx in groups:
            if not idx:
                continue
            results = self.detect_arrays(np.stack([frames[i] for i in idx]))
            for i, (boxes, scores, points) in zip(idx, results):
                out[i] = self._faces(boxes, scores, points)
        return out

    def _faces(self, boxes: np.ndarray, scores: np.ndarray, points: np.ndarray) -> list[Face]:
        """:class:`Face` values of the rows scoring at least ``min_score``, in the given order."""
        return [Face(box=np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32), score=float(s),
                     landmarks=np.asarray(lm, dtype=np.float32))
                for (x1, y1, x2, y2), s, lm in zip(boxes, scores, points) if s >= self.min_score]

    def follow(self, frame: np.ndarray, faces: Sequence[Face]) -> list[Face]:
        """Follow faces found in an earlier frame into this one with the O-net alone.

        Each face's box, squared about its centre, is handed to MTCNN's third stage as if
        the R-net had proposed it: the O-net re-scores it, regresses the box onto the face
        in this frame and gives its five landmarks. A face that moved or changed a little
        is found again at the cost of one 48 x 48 O-net crop instead of a pyramid; one
        that left, turned away or moved further than the O-net can
        regress scores below ``min_score`` and is dropped, so a caller can detect again.
        This is the pipeline's ``detect_every`` (see :class:`~affectkit.pipeline.Analyzer`).

        Parameters
        ----------
        frame : np.ndarray
            RGB ``uint8`` ``(H, W, 3)``.
        faces : sequence of Face
            Faces of an earlier frame of the same source, in this frame's pixels.

        Returns
        -------
        list of Face
            The faces found again (at most ``len(faces)``; two that converge on one face
            are merged by the O-net's NMS), largest first, with fresh scores and landmarks.
        """
        if not faces or min(frame.shape[:2]) < self.min_face_size:
            return []
        h, w = frame.shape[:2]
        boxes = np.array([[*f.box[:2], f.box[0] + f.box[2], f.box[1] + f.box[3], f.score] for f in faces], _F)
        boxes, _, points = self._onet([integral(frame)], _rerec(boxes), np.zeros(len(boxes), np.int64), w, h)
        order = np.argsort((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[::-1]
        return self._faces(boxes[order, :4], boxes[order, 4], points[order])
