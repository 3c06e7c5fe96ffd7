"""Faces in whole photos: finding them, aligning them to a prior's crop and pasting restorations back."""
