"""Grad-CAM heat maps of the face model (Selvaraju et al. 2017): where in a face the
network looked for the expression it predicts (``affectkit explain``).

A small hook-based implementation on the torch model: the gradient of the expression's
logit with respect to the last convolution's feature maps, averaged over space, weighs
those maps; their positive sum, upsampled to the face crop, is the heat map. Needs torch
(the torch :class:`~affectkit.models.recognizer.Recognizer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectkit.errors import InputError, OptionError
from affectkit.expressions import EXPRESSIONS


@dataclass
class FaceHeat:
    """One face's Grad-CAM.

    Attributes
    ----------
    crop : np.ndarray
        The aligned face crop the model saw, RGB ``uint8`` ``(H, W, 3)``.
    heat : np.ndarray
        ``(H, W)`` ``float32`` in [0, 1] (1 = the most weight), same size as ``crop``.
    expression : str
        The expression explained (the predicted one unless asked for another).
    probability : float
        The model's probability of ``expression`` for this face, [0, 1].
    box : np.ndarray
        ``(4,)`` ``float32`` x, y, width, height of the face in the image, pixels (top-left origin).
    """

    crop: np.ndarray
    heat: np.ndarray
    expression: str
    probability: float
    box: np.ndarray


def grad_cam(net, x, target: int | None = None, layer=None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of a network that returns ``{"logits": (N, 7), ...}``.

    Parameters
    ----------
    net : torch.nn.Module
        In eval mode; its output is a dict with ``logits``.
    x : torch.Tensor
        ``(N, C, S, S)`` ``float32`` input.
    target : int, optional
        The class index to explain; default: each input's most probable class.
    layer : torch.nn.Module, optional
        The layer whose output maps are weighed; default: the last ``Conv2d``.

    Returns
    -------
    heat : np.ndarray
        ``(N, S, S)`` ``float32`` in [0, 1] (all zero where no location has positive weight).
    probs : np.ndarray
        ``(N, 7)`` ``float32`` softmax probabilities.
    """
    import torch
    import torch.nn.functional as F

    if layer is None:
        convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        layer = convs[-1]
    kept = {}

    def hook(module, inputs, output):
        output.retain_grad()
        kept["maps"] = output

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            logits = net(x)["logits"]
            idx = logits.argmax(1) if target is None else torch.full((len(x),), int(target), dtype=torch.long)
            net.zero_grad(set_to_none=True)
            logits.gather(1, idx[:, None]).sum().backward()
            maps, grads = kept["maps"], kept["maps"].grad
            weights = grads.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((weights * maps).sum(1, keepdim=True))
            cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            top = cam.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None]
            heat = (cam / top).detach().numpy().astype(np.float32)
            probs = torch.softmax(logits, 1).detach().numpy().astype(np.float32)
    finally:
        handle.remove()
    return heat, probs


def explain_image(image: str | Path, model: str | Path = "default", detector: str = "mtcnn",
                  expression: str | None = None, faces_cropped: bool = False) -> list[FaceHeat]:
    """Grad-CAM of each face in an image.

    Parameters
    ----------
    image : str or Path
        An image file.
    model : str or Path
        A bundled face model name or a ``.safetensors`` face model.
    detector : {"mtcnn", "haar"}
    expression : str, optional
        One of :data:`~affectkit.expressions.EXPRESSIONS` to explain for every face;
        default: each face's predicted expression.
    faces_cropped : bool
        The image is one already-cropped face (no detection).

    Returns
    -------
    list of FaceHeat
        One per face found (empty when there is none).

    Raises
    ------
    InputError
        If the image cannot be read.
    OptionError
        For an unknown ``expression`` or ``detector``.
    WeightsError
        If the model cannot be loaded.
    """
    from affectkit.faces.detect import DETECTORS, create_detector
    from affectkit.io.media import iter_frames, media_kind
    from affectkit.models.recognizer import Recognizer

    if expression is not None and expression not in EXPRESSIONS:
        raise OptionError("expression", f"expression must be one of {EXPRESSIONS}, got {expression!r}")
    if detector not in DETECTORS:
        raise OptionError("detector", f"detector must be one of {DETECTORS}, got {detector!r}")
    image = Path(image)
    if media_kind(image) != "image":
        raise InputError(image, "explain_image takes an image; for a video, use explain_video")
    frame = next(iter(iter_frames(image)))
    rec = Recognizer(model, tta="none")
    if faces_cropped:
        h, w = frame.image.shape[:2]
        return _explain_faces(rec, [frame.image], [np.array([0, 0, w, h], np.float32)], expression)
    faces = create_detector(detector).detect_batch([frame.image])[0]
    return _explain_frame(rec, frame.image, faces, float(frame.scale), expression)


def explain_video(video: str | Path, table, model: str | Path = "default", detector: str = "mtcnn",
                  max_tracks: int = 4) -> list[FaceHeat]:
    """Grad-CAM of the people in a video: for each track, at the frame where its expression is clearest.

    For each of the ``max_tracks`` longest tracks of ``table`` (faces without a track
    count as one), the row whose top expression probability is highest is chosen; its
    frame is decoded, the faces are detected again, and the face that overlaps the
    row's box most (IoU >= 0.3) is explained. Runs in one pass over the video.

    Parameters
    ----------
    video : str or Path
        The video the table was made from.
    table : pandas.DataFrame
        Its rows (``affectkit analyze``'s columns; one source).
    model, detector
        As :func:`explain_image`; use those the table was made with.
    max_tracks : int
        Most faces explained (>= 1).

    Returns
    -------
    list of FaceHeat
        In order of the tracks' length, longest first; a face that is not found again
        in its frame is left out (empty when the table has no face).

    Raises
    ------
    InputError
        If the video cannot be read.
    OptionError
        For an unknown ``detector`` or ``max_tracks`` < 1.
    """
    from affectkit.faces.detect import DETECTORS, create_detector
    from affectkit.faces.tracking import box_iou
    from affectkit.io.media import iter_frames
    from affectkit.models.recognizer import Recognizer

    if detector not in DETECTORS:
        raise OptionError("detector", f"detector must be one of {DETECTORS}, got {detector!r}")
    if isinstance(max_tracks, bool) or not isinstance(max_tracks, int) or max_tracks < 1:
        raise OptionError("max_tracks", f"max_tracks must be an integer >= 1, got {max_tracks!r}")
    faces = table[table["face"].notna()]
    if faces.empty:
        return []
    track = faces["track_id"].astype("float64").fillna(-1) if "track_id" in faces else np.full(len(faces), -1.0)
    faces = faces.assign(_track=np.asarray(track), _top=faces[list(EXPRESSIONS)].max(axis=1))
    longest = faces["_track"].value_counts().index[:max_tracks]
    chosen = [faces[faces["_track"] == t].sort_values("_top", ascending=False).iloc[0] for t in longest]
    wanted = {int(r["frame"]) for r in chosen}
    frames = {}
    for f in iter_frames(Path(video)):
        if f.index in wanted:
            frames[f.index] = f
            if len(frames) == len(wanted):
                break
    rec = Recognizer(model, tta="none")
    det = create_detector(detector)
    out: list[FaceHeat] = []
    for row in chosen:
        frame = frames.get(int(row["frame"]))
        if frame is None:
            continue
        box = np.array([row["x"], row["y"], row["width"], row["height"]], np.float32)
        found = det.detect_batch([frame.image])[0]
        scale = float(frame.scale)
        if not found:
            continue
        overlaps = box_iou(np.stack([face.box * np.float32(scale) for face in found]), box)[:, 0]
        if overlaps.max() >= 0.3:
            out += _explain_frame(rec, frame.image, [found[int(np.argmax(overlaps))]], scale, None)
    return out


def _explain_frame(rec, image: np.ndarray, faces, scale: float, expression: str | None) -> list[FaceHeat]:
    """Grad-CAM of detected faces of one RGB frame (boxes reported in source pixels: times ``scale``)."""
    from affectkit.faces.align import align_face

    crop_policy = rec.card.get("crop_policy", "ng2015")
    boxes = [f.box * np.float32(scale) for f in faces]
    crops = [align_face(image, f, crop_policy) for f in faces]
    return _explain_faces(rec, crops, boxes, expression)


def _explain_faces(rec, crops: list[np.ndarray], boxes: list[np.ndarray], expression: str | None) -> list[FaceHeat]:
    """Grad-CAM of face crops with the torch recognizer ``rec``."""
    import torch

    if not crops:
        return []
    rec.net.eval()
    x = rec.preprocess(crops)
    target = None if expression is None else EXPRESSIONS.index(expression)
    heat, probs = grad_cam(rec.net, x, target)
    out = []
    for crop, h, p, box in zip(crops, heat, probs, boxes):
        k = int(p.argmax()) if target is None else target
        rgb = crop if crop.ndim == 3 else np.repeat(crop[..., None], 3, axis=2)
        size = rgb.shape[:2]
        hm = torch.nn.functional.interpolate(torch.from_numpy(h)[None, None], size=size, mode="bilinear",
                                             align_corners=False)[0, 0].numpy().clip(0, 1)
        out.append(FaceHeat(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8), hm.astype(np.float32),
                            EXPRESSIONS[k], float(p[k]), np.asarray(box, np.float32)))
    return out


def plot_heatmaps(heats: list[FaceHeat], path: str | Path, title: str = "") -> Path:
    """Draw each face's crop with its Grad-CAM over it (jet colours, half transparent).

    Parameters
    ----------
    heats : list of FaceHeat
        At least one.
    path : str or Path
        ``.png``, ``.pdf`` or ``.svg``; written atomically.
    title : str
        Shown above the faces.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If ``heats`` is empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from affectkit.io.write import atomic_path

    if not heats:
        raise ValueError("no face to explain")
    n = len(heats)
    fig, axes = plt.subplots(2, n, figsize=(3.0 * n, 6.2), squeeze=False, constrained_layout=True)
    for i, h in enumerate(heats):
        axes[0, i].imshow(h.crop)
        axes[0, i].set_title(f"face {i}: {h.expression} {h.probability:.2f}", fontsize=9)
        axes[1, i].imshow(h.crop)
        axes[1, i].imshow(h.heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)
        axes[1, i].set_title("Grad-CAM", fontsize=9)
        for ax in axes[:, i]:
            ax.set_axis_off()
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
