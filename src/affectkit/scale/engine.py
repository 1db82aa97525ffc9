"""Where a batch's per-source tasks run: serially in this process, or as Ray tasks.

Both engines take the same task function and the same task dicts and yield
``(task, result, error)`` as tasks finish, so a batch gives the same manifest and
tables on either (only timings, node and worker process differ).

* :class:`LocalEngine` runs the tasks one after another here (no Ray needed).
* :class:`RayEngine` submits one Ray task per source (``num_cpus`` = the task's
  threads), keeps at most ``workers`` in flight (default: every CPU of the cluster, one
  task per ``threads`` CPUs), and lets Ray re-run a task whose worker process died
  (``max_retries``). Ray is the optional ``affectkit[scale]`` extra.

Videos are not split into time ranges: the tracker and the ``--smooth``/``--impute``
timeline carry state from frame to frame, so a split source would need its ranges
stitched (track ids matched across the cut, smoothing warmed up), and with thousands
of sources there is parallelism enough across files. One very long video therefore
runs on one core.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Iterable, Iterator

from affectkit.errors import OptionError, one_line

ENGINES = ("auto", "local", "ray")

Result = tuple[dict, "dict | None", "str | None"]


def ray_available() -> bool:
    """Whether Ray can be imported (the ``affectkit[scale]`` extra)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def pin_threads(n: int) -> None:
    """Make this process's numeric libraries use ``n`` threads (torch intra-op, OpenCV,
    and OpenMP/MKL/OpenBLAS/ONNX Runtime through their environment variables for
    libraries not loaded yet), so ``N`` workers use ``N`` cores rather than ``N x cores``.
    ONNX Runtime's threads are an analysis option (``threads``), which the batch sets
    to the same number when :class:`~affectkit.pipeline.AnalyzeOptions` has it.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)  # read by torch and the BLAS libraries when they load
    import cv2

    cv2.setNumThreads(n)
    torch = sys.modules.get("torch")  # not imported here: the ONNX Runtime path may not need it
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)


class LocalEngine:
    """Run tasks one after another in this process.

    Parameters
    ----------
    threads : int
        Threads of the numeric libraries while the tasks run (restored afterwards).
    """

    name = "local"

    def __init__(self, threads: int = 1):
        self.threads = threads

    def __enter__(self) -> "LocalEngine":
        self._env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        torch = sys.modules.get("torch")
        self._torch = torch.get_num_threads() if torch is not None else None
        return self

    def __exit__(self, *exc) -> None:
        for k, v in self._env.items():  # this process's settings as they were
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        torch = sys.modules.get("torch")
        if torch is not None and self._torch is not None:
            torch.set_num_threads(self._torch)

    def map(self, fn: Callable[[dict], dict], tasks: Iterable[dict]) -> Iterator[Result]:
        """Yield ``(task, fn(task), None)`` for each task, in order."""
        for task in tasks:
            yield task, fn(task), None


class RayEngine:
    """Run tasks as Ray tasks, on this machine or a cluster.

    Parameters
    ----------
    address : str, optional
        None (the default): start Ray on this machine, with ``workers * threads`` CPUs if
        ``workers`` is given, else all of them; ``"auto"`` (a cluster this machine
        belongs to) or ``"ray://HOST:PORT"`` (Ray Client) to join a running cluster.
        If Ray is already initialised in this process, that session is used.
    workers : int, optional
        Most tasks in flight at once; default: the cluster's CPUs // ``threads``.
    threads : int
        CPUs reserved per task (``num_cpus``) and threads each worker pins; >= 1.
    max_retries : int
        Times Ray re-runs a task whose worker process died; >= 0.

    Raises
    ------
    OptionError
        One line naming the ``affectkit[scale]`` extra, if Ray is not installed; or if
        the cluster cannot be reached.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1,
                 max_retries: int = 3):
        if not ray_available():
            raise OptionError("engine", "--engine ray needs Ray, which is not installed: "
                                        "pip install 'affectkit[scale]'")
        self.address, self.workers, self.threads, self.max_retries = address, workers, threads, max_retries
        self._started = False

    def __enter__(self) -> "RayEngine":
        import ray

        if not ray.is_initialized():
            kwargs: dict = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                                configure_logging=True)
            if self.address is None:
                if self.workers:
                    kwargs["num_cpus"] = self.workers * self.threads
                kwargs["object_store_memory"] = 256 * 2**20  # results are small dicts
            try:
                ray.init(address=self.address, **kwargs)
            except Exception as exc:  # ConnectionError, RuntimeError, ValueError from Ray
                raise OptionError("address", f"cannot start or reach Ray at {self.address or 'this machine'}: "
                                             f"{one_line(exc, 160)}") from None
            self._started = True
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def window(self) -> int:
        """Tasks kept in flight: ``workers``, or the cluster's CPUs // ``threads``."""
        if self.workers:
            return self.workers
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))

    def map(self, fn: Callable[[dict], dict], tasks: Iterable[dict]) -> Iterator[Result]:
        """Yield ``(task, result, None)`` as tasks finish (in any order), or
        ``(task, None, error)`` when Ray gave up on one (its worker died more than
        ``max_retries`` times, or the task raised)."""
        import ray

        # SPREAD: one source per task across the nodes, rather than Ray's default of filling the
        # local node first (which can leave a second node idle while tasks queue on the first).
        remote = ray.remote(fn).options(num_cpus=self.threads, max_retries=self.max_retries,
                                        scheduling_strategy="SPREAD")
        pending: dict = {}
        todo = iter(tasks)
        window = self.window()
        while True:
            for task in todo:
                pending[remote.remote(task)] = task
                if len(pending) >= window:
                    break
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    yield task, ray.get(ref), None
                except ray.exceptions.RayError as exc:
                    yield task, None, one_line(getattr(exc, "cause", None) or exc, 200)


def make_engine(engine: str, *, address: str | None = None, workers: int | None = None, threads: int = 1,
                max_retries: int = 3):
    """The engine named ``engine`` (``"auto"``: Ray if installed, else local).

    Raises
    ------
    OptionError
        For an unknown engine, ``address`` with the local engine, or ``ray`` without Ray.
    """
    if engine not in ENGINES:
        raise OptionError("engine", f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        engine = "ray" if ray_available() or address else "local"
    if engine == "local":
        if address:
            raise OptionError("address", "--address needs --engine ray")
        return LocalEngine(threads)
    return RayEngine(address, workers, threads, max_retries)
