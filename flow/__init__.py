"""Optical flow, warping, reliability masks and the flow cache (knows nothing about style)."""
