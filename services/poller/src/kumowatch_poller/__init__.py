"""kumowatch package."""
