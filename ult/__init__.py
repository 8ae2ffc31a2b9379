"""ULT — Universal Loyalty Tracking.

The core package knows nothing of web pages or widgets: settings, the Redis key schema,
sponsors, rules, scans, cards and claims. ``ult.service`` (Socket.IO scan service),
``ult.dashboard`` (Voilà sponsor dashboard) and the analyst notebooks sit on top of it.
"""

from ult.errors import UltError
from ult.ops import arun, run

__all__ = ["UltError", "arun", "run"]
__version__ = "0.1.0"
