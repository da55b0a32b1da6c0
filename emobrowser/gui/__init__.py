"""gui sub-package."""
