"""Builders of test media, for the test suite, ``scripts/`` and ``benchmarks/``.

Nothing here is used by a command or by the library's own modules; it sits beside
``cli`` at the top of the layers and may import any of them.

* :mod:`affectkit.testing.av_clip` -- an audio-visual clip: a real face video with EmoDB
  speech as its sound track (``scripts/make_av_clip.py``), because no paired
  audio-visual emotion corpus is available and the shared videos carry no speech.
"""
