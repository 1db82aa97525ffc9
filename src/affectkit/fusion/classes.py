"""Class maps: one modality's class columns onto a target class list, by name.

Every modality gives an ``(N, C_m)`` array of class probabilities in its own class
order: the face model the 7 expressions (:data:`affectkit.expressions.EXPRESSIONS`), a
voice model the classes of the corpus it was trained on (EmoDB adds *boredom*, RAVDESS
*calm*, IEMOCAP has only 4 classes). Columns are matched to a target class list *by
name*, never by position. A class with no counterpart must be given a rule -- merged
into a target class (``mapping={"boredom": "neutral"}`` adds its column to *neutral*)
or dropped (``drop=["boredom"]``: its probability mass is removed and the row
renormalised) -- otherwise :class:`ValueError` lists the unmatched names. A target
class that a modality cannot predict (the voice has no *surprise*) is marked in a
coverage mask, which :mod:`affectkit.fusion.combine` uses.

``analyze --audio`` maps the voice model's classes with :class:`ClassMap`
(:mod:`affectkit.audio.voice`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from affectkit.errors import reject_unknown

ON_MISSING = ("error", "zero", "renorm")
"""Rules for source classes that have no counterpart and no explicit mapping."""


def _names(names: Sequence[str], what: str) -> tuple[str, ...]:
    """Class names normalised (stripped, lower case); duplicates and empties raise."""
    if isinstance(names, str):
        raise ValueError(f"{what} must be a sequence of class names, not the string {names!r}")
    out = tuple(str(n).strip().lower() for n in names)
    if not out or any(not n for n in out):
        raise ValueError(f"{what} must be non-empty class names, got {list(names)}")
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise ValueError(f"{what} has duplicate class names {dup}")
    return out


@dataclass(frozen=True)
class ClassMap:
    """An explicit mapping of one modality's class columns onto a target class list.

    Build it with :meth:`build`; apply it with :meth:`apply`.

    Attributes
    ----------
    from_names : tuple of str
        The modality's class names, in its column order.
    to_names : tuple of str
        The target (fused) class names, in output column order.
    mapping : dict of str to str
        Target class of every kept source class (identical names included). Several
        sources mapped to one target are summed (merged).
    drop : tuple of str
        Source classes removed with their probability mass; rows are renormalised over
        the kept classes (``p_kept / (1 - p_dropped)``).
    discard : tuple of str
        Source classes removed *without* renormalisation (``on_missing="zero"``): the
        rows then sum to less than 1 and the lost mass stays visible.
    """

    from_names: tuple[str, ...]
    to_names: tuple[str, ...]
    mapping: dict[str, str]
    drop: tuple[str, ...] = ()
    discard: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        from_names: Sequence[str],
        to_names: Sequence[str],
        mapping: Mapping[str, str | None] | None = None,
        drop: Sequence[str] = (),
        on_missing: str = "error",
    ) -> "ClassMap":
        """Match class names and apply the explicit rules.

        Parameters
        ----------
        from_names : sequence of str
            ``C_m`` class names of the modality, in column order (names are compared
            stripped and lower-case).
        to_names : sequence of str
            ``C`` target class names, e.g. :data:`affectkit.expressions.EXPRESSIONS`.
        mapping : dict, optional
            ``{source: target}`` for sources whose name differs from their target
            (``{"boredom": "neutral"}`` merges boredom into neutral); a target of None
            drops the source like ``drop``.
        drop : sequence of str
            Source classes to remove, renormalising rows over the rest.
        on_missing : {"error", "zero", "renorm"}
            Rule for source classes that match no target name and have no rule:
            ``"error"`` (default) raises; ``"zero"`` discards their mass without
            renormalising; ``"renorm"`` drops them and renormalises. The two lenient
            rules issue a :class:`UserWarning` naming the classes.

        Returns
        -------
        ClassMap

        Raises
        ------
        ValueError
            If names are duplicated or empty, a mapping or drop names a class that the
            modality does not have, a mapping target is not a target class, a class is
            both mapped and dropped, ``on_missing`` is unknown, every source class is
            dropped, or (``on_missing="error"``) some source classes are unmatched -- the
            message lists them.
        """
        src, dst = _names(from_names, "from_names"), _names(to_names, "to_names")
        if on_missing not in ON_MISSING:
            raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
        rules = {str(k).strip().lower(): (None if v is None else str(v).strip().lower()) for k, v in (mapping or {}).items()}
        dropped = [str(d).strip().lower() for d in drop]
        unknown = sorted((set(rules) | set(dropped)) - set(src))
        if unknown:
            raise ValueError(f"mapping/drop name classes {unknown} that the modality does not have (its classes: {list(src)})")
        bad = sorted({v for v in rules.values() if v is not None} - set(dst))
        if bad:
            raise ValueError(f"mapping targets {bad} are not target classes {list(dst)}")
        both = sorted(set(dropped) & {k for k, v in rules.items() if v is not None})
        if both:
            raise ValueError(f"classes {both} are both mapped and dropped")
        kept: dict[str, str] = {}
        drop_out, unmatched = [], []
        for name in src:
            if name in rules:
                if rules[name] is None:
                    drop_out.append(name)
                else:
                    kept[name] = rules[name]
            elif name in dropped:
                drop_out.append(name)
            elif name in dst:
                kept[name] = name
            else:
                unmatched.append(name)
        discard: list[str] = []
        if unmatched:
            if on_missing == "error":
                raise ValueError(
                    f"classes {unmatched} have no counterpart in the target classes {list(dst)}; "
                    f"merge them (mapping={{{unmatched[0]!r}: 'neutral'}}) or drop them (drop={unmatched!r})"
                )
            warnings.warn(
                f"classes {unmatched} have no counterpart in {list(dst)}: "
                + ("dropped, rows renormalised" if on_missing == "renorm" else "their probability mass is discarded"),
                UserWarning,
                stacklevel=2,
            )
            (drop_out if on_missing == "renorm" else discard).extend(unmatched)
        if not kept:
            raise ValueError(f"no class of {list(src)} is kept: nothing to map onto {list(dst)}")
        return cls(src, dst, kept, tuple(drop_out), tuple(discard))

    @property
    def matrix(self) -> np.ndarray:
        """``(C_m, C)`` float64 0/1 matrix: ``proba @ matrix`` sums sources into targets."""
        m = np.zeros((len(self.from_names), len(self.to_names)))
        for s, t in self.mapping.items():
            m[self.from_names.index(s), self.to_names.index(t)] = 1.0
        return m

    @property
    def coverage(self) -> np.ndarray:
        """``(C,)`` bool: which target classes this modality has a column for."""
        return np.array([t in self.mapping.values() for t in self.to_names])

    def describe(self) -> list[str]:
        """Human-readable rules, one per line, for logs and reports (nothing is implicit)."""
        lines = []
        for t in self.to_names:
            srcs = [s for s, tt in self.mapping.items() if tt == t]
            if not srcs:
                lines.append(f"{t}: not covered (fused from the other modalities only)")
            elif srcs != [t]:
                lines.append(f"{t}: sum of {srcs}")
        lines += [f"{s}: dropped, rows renormalised" for s in self.drop]
        lines += [f"{s}: discarded, mass lost (rows sum < 1)" for s in self.discard]
        return lines

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Map a modality's probabilities onto the target classes.

        Parameters
        ----------
        proba : array-like
            ``(N, C_m)`` non-negative float probabilities in ``from_names`` order. A row
            of NaN marks a sample the modality has no output for (no face / no audio).

        Returns
        -------
        np.ndarray
            ``(N, C)`` float64 in ``to_names`` order; uncovered target columns are 0,
            NaN rows stay NaN. A row whose whole mass was on dropped classes becomes
            uniform over the covered classes (it says nothing about them).

        Raises
        ------
        ValueError
            If ``proba`` is not ``(N, C_m)``, has negative or infinite values, or a row
            that is only partly NaN.
        """
        p = _check_proba(proba, "proba", n_cols=len(self.from_names))
        out = p @ self.matrix
        if self.drop:
            idx = [self.from_names.index(d) for d in self.drop]
            total = p.sum(1)
            rest = total - p[:, idx].sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out *= (total / rest)[:, None]
            dead = np.isfinite(total) & (rest <= 0)
            if dead.any():
                cov = self.coverage
                out[dead] = 0.0
                out[np.ix_(dead, cov)] = 1.0 / cov.sum()
        return out

    def to_dict(self) -> dict:
        """JSON-able dict; :meth:`from_dict` restores it."""
        return {
            "from_names": list(self.from_names),
            "to_names": list(self.to_names),
            "mapping": dict(self.mapping),
            "drop": list(self.drop),
            "discard": list(self.discard),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "ClassMap":
        """Inverse of :meth:`to_dict` (re-validated).

        Raises
        ------
        ValueError
            If the dict is inconsistent (see :meth:`build`), e.g. a class neither
            mapped nor dropped.
        OptionError
            For a key that :meth:`to_dict` does not write (a ``ValueError`` too).
        """
        reject_unknown(d, ("from_names", "to_names", "mapping", "drop", "discard"), "class-map key")
        mapping = {s: t for s, t in d["mapping"].items() if s != t}
        drop, discard = list(d.get("drop", ())), list(d.get("discard", ()))
        # Validate with both lists dropped, then restore which ones are discarded.
        cm = cls.build(d["from_names"], d["to_names"], mapping, drop + discard, on_missing="error")
        return cls(cm.from_names, cm.to_names, cm.mapping, tuple(_names(drop, "drop")) if drop else (),
                   tuple(_names(discard, "discard")) if discard else ())


def align_classes(
    proba: np.ndarray,
    from_names: Sequence[str],
    to_names: Sequence[str],
    mapping: Mapping[str, str | None] | None = None,
    drop: Sequence[str] = (),
    on_missing: str = "error",
) -> tuple[np.ndarray, np.ndarray]:
    """Map a modality's probability columns onto target classes by name.

    See :meth:`ClassMap.build` for the rules; this is ``ClassMap.build(...).apply(proba)``.

    Parameters
    ----------
    proba : array-like
        ``(N, C_m)`` float probabilities in ``from_names`` order; NaN rows = missing.
    from_names, to_names : sequence of str
        Source (``C_m``) and target (``C``) class names.
    mapping : dict, optional
        ``{source: target or None}`` explicit merges (None drops).
    drop : sequence of str
        Source classes to drop, renormalising rows.
    on_missing : {"error", "zero", "renorm"}
        Rule for unmatched source classes (default: raise).

    Returns
    -------
    aligned : np.ndarray
        ``(N, C)`` float64 in ``to_names`` order.
    coverage : np.ndarray
        ``(C,)`` bool, True where the modality has a column for the target class.

    Raises
    ------
    ValueError
        On unmatched class names (listed in the message), bad rules or bad shapes.

    Examples
    --------
    EmoDB voice scores onto the face classes, boredom merged into neutral:

    >>> from affectkit.expressions import EXPRESSIONS
    >>> voice = np.array([[0.1, 0.4, 0.0, 0.0, 0.1, 0.1, 0.3]])
    >>> emodb = ["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"]
    >>> p, cov = align_classes(voice, emodb, EXPRESSIONS, mapping={"boredom": "neutral"})
    >>> p.round(2).tolist(), cov.tolist()
    ([[0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.7]], [True, True, True, True, True, False, True])
    """
    cm = ClassMap.build(from_names, to_names, mapping, drop, on_missing)
    return cm.apply(proba), cm.coverage


def _check_proba(proba, what: str, n_cols: int | None = None) -> np.ndarray:
    """``(N, C)`` float64 copy; rows all-finite >= 0 or all-NaN, else ValueError."""
    p = np.array(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"{what} must be a 2-D (N, C) array of probabilities, got shape {p.shape}")
    if n_cols is not None and p.shape[1] != n_cols:
        raise ValueError(f"{what} has {p.shape[1]} columns, expected {n_cols} (one per class name)")
    nan = np.isnan(p)
    partial = nan.any(1) & ~nan.all(1)
    if partial.any():
        raise ValueError(
            f"{what}: rows {np.flatnonzero(partial)[:5].tolist()} are partly NaN; a missing modality "
            "must be a whole row of NaN"
        )
    if np.isinf(p).any():
        raise ValueError(f"{what} contains infinite values")
    if (p[~nan] < 0).any():
        raise ValueError(f"{what} contains negative values; fusion needs probabilities, not logits")
    return p
