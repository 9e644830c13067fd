"""``sm-detect bench``: how fast the detector serves, against the seed and AWS's own stack."""
