"""riskai: a reproducible DVC pipeline that retrains volatility-risk models for crypto perpetuals."""
import os

__version__ = "0.1.0"

# One instruction set on every x86 machine. numpy, OpenBLAS, MKL, ATen and oneDNN otherwise choose
# AVX-512 kernels on CPUs that have them, whose floating-point rounding differs from the AVX2 ones, and
# a fresh clone on another CPU would not reproduce dvc.lock byte for byte. They read these when they
# load, so riskai is imported before them (every stage script imports it first); a value already in
# the environment wins. MKL (torch's BLAS, used only by the LSTM) is left to pick its code path: even in its
# COMPATIBLE mode an Intel and an AMD machine trained float32 LSTM weights 1e-7 apart, so the LSTM computes
# in float64 and keeps float32 weights and probabilities, which every MKL path rounds to the same bits
# (tests/models/test_model_lstm.py), and keeps off oneDNN (riskai.models.lstm).
DETERMINISTIC_ISA = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
for _name, _value in DETERMINISTIC_ISA.items():
    os.environ.setdefault(_name, _value)
