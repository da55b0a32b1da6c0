"""emobrowser: find photos, music and videos by the emotion they evoke.

Every item is placed on Russell's circumplex: valence (unpleasant -1 .. +1 pleasant)
and arousal (calm -1 .. +1 excited), on one shared scale.
"""

__version__ = "0.1.0"
