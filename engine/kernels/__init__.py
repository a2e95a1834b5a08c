"""Numba kernels: contiguous arrays and scalars in, arrays out. Call them through the
public wrappers in ``engine/``, which check shapes and dtypes first."""
