"""core sub-package."""
