"""emobrowser: find photos, music and videos by the emotion they evoke.

Every item is placed on Russell's circumplex: valence (unpleasant -1 .. +1 pleasant)
and arousal (calm -1 .. +1 excited), on one shared scale.
"""

__version__ = "0.1.0"

import os as _os

# OpenCV reads this once, when it is loaded: its decoders then refuse, from their own
# header parsing and before allocating anything, an image over the pixel limit of
# emobrowser.media.images.MAX_PIXELS (a test keeps the two equal). emobrowser is
# always imported before OpenCV, since only its functions import cv2.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "150000000")
