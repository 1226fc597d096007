"""mpcl_sklearn: mixed emotion recognition as emotion distribution learning, for scikit-learn."""

from .recordings import Recordings, Trial

__version__ = "0.1.0"

__all__ = ["Recordings", "Trial", "__version__"]
