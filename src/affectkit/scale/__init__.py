"""Batch analysis at scale: one table per source, a resumable manifest, Ray or a serial loop.

``affectkit batch`` and :func:`affectkit.batch` live here, above :mod:`affectkit.pipeline`
(which does the analysis) in the layering:

* :mod:`~affectkit.scale.manifest` - the manifest file (what was done, with which
  options and model, and how it went) and the fingerprints that decide what to redo;
* :mod:`~affectkit.scale.engine` - where the per-source tasks run: serially in this
  process (``local``) or as Ray tasks (``ray``, the optional ``affectkit[scale]`` extra);
* :mod:`~affectkit.scale.run` - the batch itself and the merge of its tables.
"""
