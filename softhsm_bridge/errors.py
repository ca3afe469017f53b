"""The bridge's name for :mod:`keystead.errors`: every CK_RV as one exception class.

The classes live in the core package (a leaf module that imports nothing of keystead's), so
that the cffi wrappers below the bridge raise the same exceptions without importing it.
"""

from keystead.errors import *  # noqa: F403
from keystead.errors import __all__  # noqa: F401
