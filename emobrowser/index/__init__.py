"""index sub-package."""
