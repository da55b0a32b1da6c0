"""align sub-package."""
