"""Shipped data: model weights (models/), icons (icons/). Installed as emobrowser.resources."""
