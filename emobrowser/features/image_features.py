"""Hand-crafted image features for the valence–arousal model (pure NumPy/OpenCV).

Every function takes arrays and returns a 1-D float32 vector; nothing here imports
TensorFlow, so it is safe to call from indexing worker processes.

The entry point is :func:`image_features`, which first shrinks the picture to a fixed
working size (:data:`WORK_SIZE` px longest side, INTER_AREA) so that the 320 px training
photos and the ~1024 px run-time decodes of 12-MP JPEGs are described the same way.

Feature groups (see :func:`feature_names` for the exact layout):

* ``gist``   – GIST-like Gabor energies, 4 scales x 8 orientations over a 4x4 grid (512)
  computed on a 128x128 grey image in the Fourier domain (Oliva & Torralba 2001).
* ``lbp``    – uniform LBP histogram, 8 neighbours radius 1, 59 bins summing to 1, for
  the whole image and for a 2x2 grid (5 x 59).
* ``color``  – Valdez & Mehrabian (1994) pleasure/arousal/dominance from brightness and
  saturation, Hasler–Süsstrunk colourfulness, HSV and Lab statistics, contrast, dark /
  bright / saturated / skin / red / green / blue shares, saturation-weighted hue
  histogram (12), HSV value and saturation histograms.
* ``layout`` – Lab mean and std over a 3x3 grid plus an 8x8 Lab thumbnail (spatial colour
  layout), edge density (Canny) globally and on a 3x3 grid, gradient-orientation
  histograms (HOG-like, 8 bins) globally and on a 2x2 grid, rule-of-thirds saliency.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import scipy.fft

WORK_SIZE = 256  # longest side of the working image
GIST_SIZE = 128
GIST_SCALES = 4
GIST_ORIENTATIONS = 8
GIST_GRID = 4
FEATURE_VERSION = "1"


# --------------------------------------------------------------------------- helpers
def to_working_size(bgr: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    """Resize so the longest side is ``size`` px (INTER_AREA), keeping the aspect ratio.

    Grey or BGRA input is converted to 3-channel BGR first.
    """
    img = np.asarray(bgr)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    scale = size / float(max(h, w))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
    return img


def _grid_means(a: np.ndarray, n: int) -> np.ndarray:
    """Mean of 2-D (or 3-D, channels last) array over an n x n grid -> (n*n[*c],). On a
    side shorter than n pixels (a panorama strip), cells share rows or columns rather
    than being empty."""
    h, w = a.shape[:2]
    ys = np.linspace(0, h, n + 1).astype(int)
    xs = np.linspace(0, w, n + 1).astype(int)
    out = []
    for i in range(n):
        y0 = min(ys[i], h - 1)
        for j in range(n):
            x0 = min(xs[j], w - 1)
            cell = a[y0:max(ys[i + 1], y0 + 1), x0:max(xs[j + 1], x0 + 1)]
            out.append(cell.reshape(-1, *a.shape[2:]).mean(axis=0))
    return np.asarray(out, dtype=np.float32).ravel()


# --------------------------------------------------------------------------- GIST
@functools.lru_cache(maxsize=4)
def _gabor_bank(size: int, scales: int, orientations: int) -> np.ndarray:
    """Log-Gabor-like transfer functions (scales*orientations, size, size), Fourier domain."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1e-6
    theta = np.arctan2(fy, fx)
    bank = []
    for s in range(scales):
        f0 = 0.35 / (2.0**s)  # centre frequency, cycles per pixel
        radial = np.exp(-(np.log(radius / f0) ** 2) / (2 * np.log(0.55) ** 2))
        for o in range(orientations):
            angle = np.pi * o / orientations
            d = np.angle(np.exp(1j * (theta - angle)))
            angular = np.exp(-(d**2) / (2 * (np.pi / orientations / 1.2) ** 2))
            bank.append(radial * angular)
    bank = np.asarray(bank, dtype=np.float32)
    bank[:, 0, 0] = 0.0
    return bank


def gist_features(gray: np.ndarray, size: int = GIST_SIZE, scales: int = GIST_SCALES,
                  orientations: int = GIST_ORIENTATIONS, grid: int = GIST_GRID) -> np.ndarray:
    """GIST-like descriptor: mean Gabor energy per (scale, orientation, grid cell).

    ``gray`` is a 2-D uint8/float image of any size; it is resized to ``size`` x ``size``,
    locally contrast-normalised, filtered in the Fourier domain and pooled on a grid.
    Returns scales*orientations*grid*grid float32 values (512 by default).
    """
    g = cv2.resize(np.asarray(gray, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA)
    g = np.log1p(g)
    # local contrast normalisation (prefiltering, as in the original GIST)
    g = g - cv2.GaussianBlur(g, (0, 0), 4.0)
    local = np.sqrt(cv2.GaussianBlur(g * g, (0, 0), 4.0))
    g = g / (0.2 + local)
    spectrum = scipy.fft.fft2(g, workers=1).astype(np.complex64)
    bank = _gabor_bank(size, scales, orientations)
    # single precision, one thread: ~2x faster than numpy.fft here
    resp = np.abs(scipy.fft.ifft2(spectrum[None] * bank, axes=(1, 2), workers=1))  # (k, size, size)
    cells = size // grid
    pooled = resp.reshape(len(bank), grid, cells, grid, cells).mean(axis=(2, 4))
    return pooled.astype(np.float32).ravel()


# --------------------------------------------------------------------------- LBP
@functools.lru_cache(maxsize=1)
def _uniform_lut() -> np.ndarray:
    """Map the 256 8-bit LBP codes to 59 bins: 58 uniform patterns + 1 for the rest."""
    lut = np.full(256, 58, dtype=np.int64)
    nxt = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        if transitions <= 2:
            lut[code] = nxt
            nxt += 1
    assert nxt == 58
    return lut


def lbp_codes(gray: np.ndarray) -> np.ndarray:
    """Uniform-LBP bin (0..58) of each interior pixel, 8 neighbours at radius 1."""
    g = np.asarray(gray, dtype=np.int16)
    c = g[1:-1, 1:-1]
    h, w = c.shape
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    code = np.zeros(c.shape, dtype=np.uint8)
    for bit, (dy, dx) in enumerate(offsets):
        nb = g[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        code |= ((nb >= c).astype(np.uint8) << bit)
    return _uniform_lut()[code]


def lbp_histogram(gray: np.ndarray) -> np.ndarray:
    """Uniform LBP histogram (59 bins, 8 neighbours), normalised to sum to 1."""
    codes = lbp_codes(gray)
    hist = np.bincount(codes.ravel(), minlength=59).astype(np.float64)
    return (hist / max(hist.sum(), 1.0)).astype(np.float32)


def lbp_features(gray: np.ndarray, grid: int = 2) -> np.ndarray:
    """Global uniform-LBP histogram followed by one per cell of a grid x grid layout."""
    codes = lbp_codes(gray)
    feats = [np.bincount(codes.ravel(), minlength=59)]
    h, w = codes.shape
    ys = np.linspace(0, h, grid + 1).astype(int)
    xs = np.linspace(0, w, grid + 1).astype(int)
    for i in range(grid):
        for j in range(grid):
            feats.append(np.bincount(codes[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].ravel(), minlength=59))
    out = [f / max(f.sum(), 1) for f in feats]
    return np.concatenate(out).astype(np.float32)


# --------------------------------------------------------------------------- colour
def colourfulness(bgr: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness metric M (0 = grey, ~100+ = very colourful)."""
    f = bgr.astype(np.float32)
    b, g, r = f[..., 0], f[..., 1], f[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def _moments(x: np.ndarray) -> list[float]:
    m = float(x.mean())
    d = x - m
    d2 = d * d
    s = float(np.sqrt(d2.mean()))
    skew = float((d2 * d).mean() / (s**3 + 1e-6))
    return [m, s, float(np.clip(skew, -10, 10))]


def colour_features(bgr: np.ndarray) -> np.ndarray:
    """Global colour statistics (see module doc); values roughly in [0, 1] or small ranges."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV_FULL)
    h = hsv[..., 0].astype(np.float32) * (2 * np.pi / 256.0)
    s = hsv[..., 1].astype(np.float32) / 255.0
    v = hsv[..., 2].astype(np.float32) / 255.0
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab).astype(np.float32)
    L = lab[..., 0] / 255.0
    A = (lab[..., 1] - 128.0) / 128.0
    B = (lab[..., 2] - 128.0) / 128.0
    ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]

    bright, sat = float(v.mean()), float(s.mean())
    pleasure = 0.69 * bright + 0.22 * sat
    arousal = -0.31 * bright + 0.60 * sat
    dominance = -0.76 * bright + 0.32 * sat
    feats = [bright, sat, pleasure, arousal, dominance, colourfulness(bgr) / 100.0]
    feats += _moments(v) + _moments(s) + _moments(L) + _moments(A) + _moments(B)
    # contrast: RMS and 5–95 percentile range of lightness
    p5, p50, p95 = np.percentile(L, [5, 50, 95])
    feats += [float(L.std()), float(p95 - p5), float(p50)]
    # circular hue statistics, saturation-weighted
    wsum = float(s.sum()) + 1e-6
    hc = float((s * np.cos(h)).sum() / wsum)
    hs = float((s * np.sin(h)).sum() / wsum)
    feats += [hc, hs, float(np.hypot(hc, hs))]
    # shares of pixel types
    skin = (cr >= 135) & (cr <= 175) & (cb >= 80) & (cb <= 130) & (v > 0.2)
    red = ((h < 0.35) | (h > 2 * np.pi - 0.35)) & (s > 0.4) & (v > 0.2)
    green = (h > 1.6) & (h < 2.8) & (s > 0.25) & (v > 0.15)
    blue = (h > 3.3) & (h < 4.6) & (s > 0.25) & (v > 0.15)
    yellow = (h > 0.6) & (h < 1.4) & (s > 0.35) & (v > 0.3)
    feats += [float((v < 0.15).mean()), float((v < 0.35).mean()), float((v > 0.85).mean()),
              float((s > 0.6).mean()), float((s < 0.1).mean()), float(skin.mean()),
              float(red.mean()), float(green.mean()), float(blue.mean()), float(yellow.mean())]
    # warm vs cool balance
    feats += [float(A.mean() + B.mean()), float((A * (s > 0.2)).mean())]
    # saturation-weighted hue histogram (12 bins, normalised)
    hbin = np.minimum((h / (2 * np.pi) * 12).astype(np.int64), 11)
    hue_hist = np.bincount(hbin.ravel(), weights=s.ravel(), minlength=12)
    hue_hist = hue_hist / max(hue_hist.sum(), 1e-6)
    # value and saturation histograms (8 bins each)
    v_hist = np.bincount(np.minimum((v * 8).astype(np.int64), 7).ravel(), minlength=8) / v.size
    s_hist = np.bincount(np.minimum((s * 8).astype(np.int64), 7).ravel(), minlength=8) / s.size
    # joint coarse hue x (sat/value) histogram: 6 hues x {grey, dark, pale, vivid}
    hue6 = np.minimum((h / (2 * np.pi) * 6).astype(np.int64), 5)
    kind = np.where(s < 0.15, 0, np.where(v < 0.3, 1, np.where(s < 0.5, 2, 3)))
    joint = np.where(kind == 0, 0, 1 + (kind - 1) * 6 + hue6)  # 0 grey, then 18 bins
    joint_hist = np.bincount(joint.ravel(), minlength=19) / joint.size
    out = np.concatenate([np.asarray(feats, dtype=np.float64), hue_hist, v_hist, s_hist, joint_hist])
    return out.astype(np.float32)


# --------------------------------------------------------------------------- layout
def layout_features(bgr: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """Spatial colour layout, edges and gradient orientations (see module doc)."""
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab).astype(np.float32) / 255.0
    grid_mean = _grid_means(lab, 3)  # 27
    grid_std = _grid_means((lab - lab.mean(axis=(0, 1))) ** 2, 3) ** 0.5  # 27
    thumb = cv2.resize(lab, (8, 8), interpolation=cv2.INTER_AREA).ravel()  # 192
    # edges
    edges = cv2.Canny(gray, 80, 160) > 0
    edge_grid = _grid_means(edges.astype(np.float32), 3)  # 9
    edge_d = [float(edges.mean())]
    # gradient orientation histograms (unsigned, 8 bins), magnitude weighted
    gf = gray.astype(np.float32) / 255.0
    gx = cv2.Sobel(gf, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gf, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    obin = np.minimum((ang / np.pi * 8).astype(np.int64), 7)
    hists = [np.bincount(obin.ravel(), weights=mag.ravel(), minlength=8)]
    h, w = gray.shape
    for ys in (slice(0, h // 2), slice(h // 2, h)):
        for xs in (slice(0, w // 2), slice(w // 2, w)):
            hists.append(np.bincount(obin[ys, xs].ravel(), weights=mag[ys, xs].ravel(), minlength=8))
    hog = np.concatenate([hh / max(hh.sum(), 1e-6) for hh in hists])  # 40
    grad_stats = [float(mag.mean()), float(mag.std()), float(np.percentile(mag, 90))]
    # sharpness / blur: variance of the Laplacian
    lap = cv2.Laplacian(gf, cv2.CV_32F)
    sharp = [float(np.log1p(lap.var() * 1e3))]
    # rule of thirds: gradient energy around the thirds intersections vs whole
    sal = cv2.GaussianBlur(mag, (0, 0), max(2.0, min(h, w) / 16))
    pts = [(h // 3, w // 3), (h // 3, 2 * w // 3), (2 * h // 3, w // 3), (2 * h // 3, 2 * w // 3)]
    thirds = [float(np.mean([sal[y, x] for y, x in pts]) / (sal.mean() + 1e-6))]
    middle = sal[h // 4:max(3 * h // 4, h // 4 + 1), w // 4:max(3 * w // 4, w // 4 + 1)]  # never empty
    centre = [float(middle.mean() / (sal.mean() + 1e-6))]
    aspect = [float(np.log(w / h))]
    out = np.concatenate([grid_mean, grid_std, thumb, edge_grid, edge_d, hog, grad_stats,
                          sharp, thirds, centre, aspect])
    return out.astype(np.float32)


# --------------------------------------------------------------------------- all
def image_features(bgr: np.ndarray) -> np.ndarray:
    """Full feature vector of an 8-bit BGR image of any size (see :func:`feature_names`)."""
    img = to_working_size(bgr)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    # colour statistics and layout are computed at half the working size (cheaper, and
    # global statistics barely change)
    small = to_working_size(img, WORK_SIZE // 2)
    small_gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    parts = [
        gist_features(gray),
        lbp_features(gray),
        colour_features(small),
        layout_features(small, small_gray),
    ]
    out = np.concatenate(parts).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


@functools.lru_cache(maxsize=1)
def feature_groups() -> dict[str, tuple[int, int]]:
    """Name -> (start, stop) slice of each feature group in :func:`image_features`."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(64, 96, 3), dtype=np.uint8)
    img = to_working_size(img, WORK_SIZE // 2)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    sizes = {
        "gist": gist_features(gray).size,
        "lbp": lbp_features(gray).size,
        "color": colour_features(img).size,
        "layout": layout_features(img, gray).size,
    }
    out, start = {}, 0
    for k, n in sizes.items():
        out[k] = (start, start + n)
        start += n
    return out


def feature_names() -> list[str]:
    """One name per feature, ``group_index``."""
    names = []
    for group, (a, b) in feature_groups().items():
        names += [f"{group}_{i}" for i in range(b - a)]
    return names


def feature_dim() -> int:
    return len(feature_names())
