"""riskai: a reproducible DVC pipeline that retrains volatility-risk models for crypto perpetuals."""
import os

__version__ = "0.1.0"

# One instruction set on every x86 machine. numpy, OpenBLAS, MKL, ATen and oneDNN otherwise choose
# AVX-512 kernels on CPUs that have them, whose floating-point rounding differs from the AVX2 ones, and
# a fresh clone on another CPU would not reproduce dvc.lock byte for byte. They read these when they
# load, so riskai is imported before them (every stage script imports it first); a value already in
# the environment wins. MKL (torch's BLAS) is COMPATIBLE: its one code path documented to give the same
# results on every Intel and non-Intel x86 CPU (MKL_CBWR=AVX2 was not honoured on AMD: a Zen 3 machine
# trained other LSTM bits than an AVX-512 one). The LSTM also keeps off oneDNN (riskai.models.lstm).
DETERMINISTIC_ISA = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "MKL_CBWR": "COMPATIBLE",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
for _name, _value in DETERMINISTIC_ISA.items():
    os.environ.setdefault(_name, _value)
