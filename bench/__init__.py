"""Benchmarks: the engine against pyBKT (`bench.engine`), the stream pipeline against Redis's
ceiling (`bench.stream`), the xAPI intake (`bench.xapi`). No product package imports them."""
