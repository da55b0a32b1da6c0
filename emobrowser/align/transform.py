"""The fitted image-to-audio alignment and its pure-NumPy application.

Image-model and audio-model scores are both on Russell's circumplex (valence and
arousal, each in [-1, 1], 0 = neutral), but two independently trained models need not
agree on where "calm" or "tense" lies. Alignment maps IMAGE-model values into the
audio model's space; audio values are the reference and stay as they are.

A Transform is plain data (a kind and a dict of numbers) so that it can be stored as
JSON in the library's settings table (key "alignment") -- never pickled -- and
applied at query time with NumPy only: no TensorFlow import, no re-scoring.

Kinds:

* ``identity``  -- y = x.
* ``affine``    -- y = x @ matrix + offset (moment matching and Procrustes similarity
  transforms are both affine; matrix is 2x2 acting on row vectors).
* ``quantile``  -- per axis, piecewise-linear map from image quantiles ("src") to
  audio quantiles ("dst"); values beyond the fitted range continue with the slope
  of the outermost piece, so no two distinct values are merged.
* ``mlp``       -- y = x @ linear + linear_bias + tanh(x @ hidden + hidden_bias) @ out,
  the image network f2 of the learned alignment (see methods.py).

Every result is clipped to [-1, 1], the common scale.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import numpy as np

SETTING_KEY = "alignment"
KINDS = ("identity", "affine", "quantile", "mlp")


@dataclass
class Transform:
    """A map from image-model (valence, arousal) to the aligned (audio) space.

    kind: one of KINDS; params: numbers as nested lists (JSON-ready); method: the
    alignment method that produced it; models: {"image": [name, version],
    "audio": [name, version]} it applies to (empty for the identity).
    """

    kind: str = "identity"
    params: dict = field(default_factory=dict)
    method: str = "identity"
    models: dict = field(default_factory=dict)
    version: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown transform kind {self.kind!r}; known: {', '.join(KINDS)}")
        # Arrays are built once here so apply() does no parsing per call.
        p = self.params
        if self.kind == "affine":
            self._matrix = np.asarray(p["matrix"], np.float64).reshape(2, 2)
            self._offset = np.asarray(p["offset"], np.float64).reshape(2)
        elif self.kind == "quantile":
            self._src = [np.asarray(s, np.float64) for s in p["src"]]
            self._dst = [np.asarray(d, np.float64) for d in p["dst"]]
            for s, d in zip(self._src, self._dst):
                if s.size < 2 or s.size != d.size or np.any(np.diff(s) <= 0):
                    raise ValueError("quantile knots must be strictly increasing, at least 2, paired")
        elif self.kind == "mlp":
            self._layers = {k: np.asarray(v, np.float64) for k, v in p.items()
                            if k in ("linear", "linear_bias", "hidden", "hidden_bias", "out")}

    @property
    def is_identity(self) -> bool:
        return self.kind == "identity"

    def apply(self, values) -> np.ndarray:
        """Map image-model values (n, 2) [valence, arousal in [-1, 1]] to (n, 2) in [-1, 1]."""
        x = np.asarray(values, np.float64)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        if x.shape[-1] != 2:
            raise ValueError(f"expected (n, 2) valence/arousal values, got shape {x.shape}")
        if self.kind == "identity":
            y = x.copy()
        elif self.kind == "affine":
            y = x @ self._matrix + self._offset
        elif self.kind == "quantile":
            y = np.column_stack([_interp_extrapolate(x[:, j], self._src[j], self._dst[j]) for j in range(2)])
        else:
            L = self._layers
            y = x @ L["linear"] + L["linear_bias"] + np.tanh(x @ L["hidden"] + L["hidden_bias"]) @ L["out"]
        y = np.clip(y, -1.0, 1.0)
        return y[0] if single else y

    def to_dict(self) -> dict:
        return {"kind": self.kind, "params": self.params, "method": self.method, "models": self.models,
                "version": self.version}

    @classmethod
    def from_dict(cls, data: dict) -> Transform:
        return cls(kind=data.get("kind", "identity"), params=data.get("params") or {},
                   method=data.get("method", data.get("kind", "identity")), models=data.get("models") or {},
                   version=int(data.get("version", 0)))

    def applies_to(self, models: dict[str, tuple[str, str]]) -> bool:
        """Whether this transform was fitted for these {"image": (name, version), "audio": ...} models."""
        if not self.models:
            return False
        return all(tuple(self.models.get(m, ())) == tuple(models[m]) for m in ("image", "audio"))


IDENTITY = Transform()


def _interp_extrapolate(x: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """np.interp with linear extrapolation from the end pieces (np.interp would clamp)."""
    y = np.interp(x, src, dst)
    lo, hi = x < src[0], x > src[-1]
    if lo.any():
        y[lo] = dst[0] + (x[lo] - src[0]) * (dst[1] - dst[0]) / (src[1] - src[0])
    if hi.any():
        y[hi] = dst[-1] + (x[hi] - src[-1]) * (dst[-1] - dst[-2]) / (src[-1] - src[-2])
    return y


# The stored JSON text -> parsed Transform. active_transform is called whenever points
# are loaded; this makes a repeat call cost one indexed SELECT and a dict lookup.
_parsed: dict[str, Transform] = {}
_parsed_lock = threading.Lock()


def stored_transform(store) -> Transform | None:
    """The stored alignment, whatever models it is for; None if none is stored or it is unreadable."""
    text = store.get_setting(SETTING_KEY)
    if not text:
        return None
    with _parsed_lock:
        cached = _parsed.get(text)
    if cached is not None:
        return cached
    try:
        transform = Transform.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError):
        # A damaged or future-format setting must not break browsing: fall back to identity.
        return None
    with _parsed_lock:
        if len(_parsed) > 8:
            _parsed.clear()
        _parsed[text] = transform
    return transform


def current_model_keys() -> dict[str, tuple[str, str]]:
    """{"image": (name, version), "audio": (name, version)} of the default models."""
    from emobrowser.models import registry

    image, audio = registry.image_model(), registry.audio_model()
    return {"image": (image.info.name, image.info.version), "audio": (audio.info.name, audio.info.version)}


def active_transform(store, models: dict[str, tuple[str, str]] | None = None) -> Transform:
    """The alignment to apply to image-model values for ``models`` (default: current models).

    Identity when nothing is stored or the stored alignment was fitted for other
    models (a new model version needs a new ``emobrowser align``). Pure NumPy.
    """
    transform = stored_transform(store)
    if transform is None or transform.is_identity:
        return IDENTITY
    if not transform.applies_to(models or current_model_keys()):
        return IDENTITY
    return transform


def alignment_status(store, models: dict[str, tuple[str, str]]) -> dict:
    """The library's alignment as ``status`` reports it, for the library's ``models``.

    {"method", "version", "in_force"} and, for a stored fit, "fitted_for" and, when
    it is not applied, "note": why (fitting again fixes it). A fit stops applying when the
    library is scored with another model version, silently until this says so.
    """
    stored = stored_transform(store)
    if stored is None or stored.is_identity:
        return {"method": "identity", "version": 0 if stored is None else stored.version, "in_force": True}
    in_force = stored.applies_to(models)
    fitted_for = {m: "/".join(map(str, stored.models.get(m, ("?", "?")))) for m in ("image", "audio")}
    out = {"method": stored.method, "version": stored.version, "in_force": in_force, "fitted_for": fitted_for}
    if not in_force:
        now = {m: "/".join(map(str, models[m])) for m in ("image", "audio")}
        changed = [f"{fitted_for[m]} (now {now[m]})" for m in ("image", "audio") if fitted_for[m] != now[m]]
        out["note"] = (f"the {stored.method} alignment was fitted for {' and '.join(changed)}, so photos are "
                       f"not aligned with music")
    return out
