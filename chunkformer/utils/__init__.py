"""The bottom layer: helpers every other part of the package may import (no torch, no model code)."""
