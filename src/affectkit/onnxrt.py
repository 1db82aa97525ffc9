"""ONNX Runtime sessions and ONNX model cards, with one-line errors; no torch.

The lowest layer of affectkit's ONNX inference (:mod:`affectkit.models.onnx_face`,
:mod:`affectkit.faces.mtcnn_onnx`) and of the export check
(:mod:`affectkit.models.export`). Files are exported by ``affectkit export``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from affectkit.errors import WeightsError, one_line, printable


def session(path: str | Path, *, threads: int | None = None, what: str = "ONNX model",
            initializers: Mapping[str, np.ndarray] | None = None, spin: bool = False):
    """Open an ONNX model with ONNX Runtime on the CPU.

    Parameters
    ----------
    path : str or Path
        A ``.onnx`` file.
    threads : int, optional
        Intra-op threads (one operator split over this many cores); None or 0 lets
        ONNX Runtime choose (all physical cores). Inter-op parallelism is off (1).
    what : str
        What the file is, for messages.
    initializers : mapping of str to np.ndarray, optional
        Values of the graph's initializers that are stored outside it (ONNX external
        data), by initializer name: a graph shipped without third-party weights
        (:mod:`affectkit.faces.mtcnn_weights`). Arrays must have the initializer's
        shape and dtype; they are used in place, not copied.
    spin : bool
        Whether idle pool threads spin (busy-wait) for the next operator instead of
        sleeping. Spinning saves the wake-up on each operator, which pays for a network
        run on large batches back to back; it costs the cores that the work between runs
        needs (numpy, decoding, Python), so it is off by default.

    Returns
    -------
    onnxruntime.InferenceSession

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if onnxruntime is not installed, the
        file is missing or a folder, or it is not a valid ONNX model.
    ValueError
        If ``threads`` is negative.
    """
    path = Path(path)
    where = printable(path)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise ValueError(f"threads must be an integer >= 0 (0: ONNX Runtime's choice), got {threads!r}")
    try:
        import onnxruntime as ort
    except ImportError:
        raise WeightsError(f"{where}: onnxruntime is not installed (pip install onnxruntime)") from None
    if path.is_dir():
        raise WeightsError(f"{where}: is a folder, not an {what} file")
    if not path.is_file():
        raise WeightsError(f"{where}: {what} file not found")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or 0)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: no warnings on stderr
    # No memory arena and no memory-pattern plan: MTCNN's P-net sees a new input shape at every
    # pyramid level, and the arena keeps the largest buffers of each; peak RSS matters more here
    # (issue 16: <= 300 MiB) than the allocation time it saves.
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    # Without spin, idle pool threads sleep: MTCNN's small networks run between numpy, decoding and
    # Python steps, and spinning threads take the cores those steps need (on 2 cores, spinning made
    # `analyze` on a video slower than with one thread).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    keep: list = []
    if initializers:
        names = list(initializers)
        keep = [np.ascontiguousarray(initializers[n]) for n in names]
        keep += [ort.OrtValue.ortvalue_from_numpy(a) for a in keep]
        opts.add_external_initializers(names, keep[len(names):])
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        sess._affectkit_initializers = keep  # ONNX Runtime points into these arrays: keep them alive
        return sess
    except Exception as exc:  # onnxruntime raises its own (InvalidProtobuf, Fail, ...) classes
        raise WeightsError(f"{where}: not a valid {what} ({one_line(exc, 160)})") from None


def check_names(sess, inputs: Sequence[str], outputs: Sequence[str], path: str | Path) -> None:
    """Check that a session's input and output names are the ones a card declares.

    Raises
    ------
    WeightsError
        Naming ``path``, if they differ.
    """
    got_in = [i.name for i in sess.get_inputs()]
    got_out = [o.name for o in sess.get_outputs()]
    if got_in != list(inputs) or got_out != list(outputs):
        raise WeightsError(f"{printable(path)}: ONNX inputs {got_in} and outputs {got_out} differ from the "
                           f"model card's {list(inputs)} and {list(outputs)}")


def read_json(path: str | Path, what: str = "model card") -> dict[str, Any]:
    """Read a JSON object (a model card) with one-line errors.

    Raises
    ------
    WeightsError
        If the file is missing, a folder, unreadable, not JSON or not a JSON object.
    """
    path = Path(path)
    where = printable(path)
    if path.is_dir():
        raise WeightsError(f"{where}: is a folder, not a {what}")
    if not path.is_file():
        raise WeightsError(f"{where}: {what} not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WeightsError(f"{where}: cannot read the {what} ({exc.strerror or one_line(exc)})") from None
    except ValueError as exc:
        raise WeightsError(f"{where}: {what} is not valid JSON ({one_line(exc, 120)})") from None
    except RecursionError:
        raise WeightsError(f"{where}: {what} is not valid JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{where}: {what} must be a JSON object, got a JSON {type(obj).__name__}")
    return obj


def onnx_section(card: dict, path: str | Path) -> dict[str, Any]:
    """The ``onnx`` section of a card, with its ``input_names`` and ``output_names`` checked.

    Raises
    ------
    WeightsError
        If the card has no ``onnx`` object or its names are not lists of strings.
    """
    sec = card.get("onnx")
    where = printable(path)
    if not isinstance(sec, dict):
        raise WeightsError(f"{where}: model card has no 'onnx' section (write it with affectkit export)")
    for key in ("input_names", "output_names"):
        names = sec.get(key)
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise WeightsError(f"{where}: model card 'onnx.{key}' must be a non-empty list of names")
    return sec
