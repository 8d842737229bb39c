"""The online feature store: latest feature values per entity key, for serving.

SQLite (embedded, the default) and Redis implement one small protocol,
:class:`OnlineStore`; :func:`open_online_store` picks one from a URI scheme.
"""

from gapless.stores.online.base import OnlineStore, open_online_store

__all__ = ["OnlineStore", "open_online_store"]
