"""media sub-package."""
