"""Render the PNG icon sizes from the same design as the SVG icon.

OpenCV draws them, so no SVG renderer is needed at build time. Run from the
repository root: python packaging/make_icons.py
"""

from pathlib import Path

import cv2
import numpy as np

APP_ID = "io.github.emobrowser.Emobrowser"
OUT = Path(__file__).resolve().parent.parent / "resources" / "icons"


def hex_bgr(code: str) -> tuple[int, int, int]:
    r, g, b = (int(code[i:i + 2], 16) for i in (1, 3, 5))
    return b, g, r


def render(size: int) -> np.ndarray:
    scale = 4  # draw large, then shrink, for smooth edges
    s = size * scale / 256.0
    img = np.zeros((size * scale, size * scale, 4), np.uint8)

    def p(x: float) -> int:
        return int(round(x * s))

    bg = (*hex_bgr("#26304a"), 255)
    cv2.rectangle(img, (p(8 + 48), p(8)), (p(248 - 48), p(248)), bg, -1)
    cv2.rectangle(img, (p(8), p(8 + 48)), (p(248), p(248 - 48)), bg, -1)
    for cx, cy in ((56, 56), (200, 56), (56, 200), (200, 200)):
        cv2.circle(img, (p(cx), p(cy)), p(48), bg, -1, cv2.LINE_AA)
    line = (*hex_bgr("#c9d3ea"), 255)
    cv2.circle(img, (p(128), p(128)), p(88), line, max(1, p(8)), cv2.LINE_AA)
    cv2.line(img, (p(28), p(128)), (p(228), p(128)), line, max(1, p(4)), cv2.LINE_AA)
    cv2.line(img, (p(128), p(28)), (p(128), p(228)), line, max(1, p(4)), cv2.LINE_AA)
    for (cx, cy, r, colour) in ((180, 80, 18, "#f5b942"), (84, 92, 14, "#e5534b"),
                                (170, 170, 14, "#57c785"), (92, 172, 16, "#4b8fe5")):
        cv2.circle(img, (p(cx), p(cy)), p(r), (*hex_bgr(colour), 255), -1, cv2.LINE_AA)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    for size in (32, 48, 64, 128, 256):
        folder = OUT / f"{size}x{size}"
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{APP_ID}.png"), render(size))


if __name__ == "__main__":
    main()
