"""pyBKT-format CSV files for `skillgap fit --csv` and `skillgap predict`: reading history
(Numba parsing kernels) and writing predictions. No product package imports it."""
