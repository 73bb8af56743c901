"""Device-only shims so that Chainer 7.8.1 (2020) imports under Python 3.12 / NumPy 2 / CuPy 14.

Used only on such a machine: experiments/device/make_kit.sh copies it into .devkit/site/.
"""
import sys
import types

import numpy as np

try:
    np.sctypes
except AttributeError:
    np.sctypes = {"int": [np.int8, np.int16, np.int32, np.int64],
                  "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
                  "float": [np.float16, np.float32, np.float64],
                  "complex": [np.complex64, np.complex128],
                  "others": [bool, object, bytes, str, np.void]}

# chainer._environment_check imports numpy.distutils and pkg_resources (both gone here);
# it only prints advice, so it is replaced by a no-op.
_check = types.ModuleType("chainer._environment_check")
_check.check = lambda: None
sys.modules["chainer._environment_check"] = _check
