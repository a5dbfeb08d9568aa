"""Keeping the garbage collector's full passes off the request path.

CPython's cyclic collector walks every tracked object of the oldest generation on a full
pass. A serving process holds hundreds of thousands of long-lived objects — the imported
libraries (scikit-learn, SciPy, pandas, SQLAlchemy, FastAPI), the routing tables, the
loaded models — and walking them stops the event loop for tens to hundreds of
milliseconds, which is what a p99 latency then measures. ``freeze_long_lived`` collects
once and moves everything alive into the permanent generation, which full passes skip
(``gc.freeze``, the technique CPython documents for pre-fork servers); later garbage is
still collected as usual. It runs once the app has started, and again after a model is
loaded (without the collection, which would be a full pass itself): models live until
evicted, and refcounting still frees an evicted model's objects.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()


def freeze_long_lived(*, collect: bool = True) -> int:
    """Collect (unless told not to), then exempt every live object from future full
    passes; returns how many objects are frozen."""
    with _lock:
        if collect:
            gc.collect()
        gc.freeze()
        return gc.get_freeze_count()
