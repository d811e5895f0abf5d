"""The authorization processor: drivers, membership levels, id tokens, authorization records, local lists, and
the `auth.tokens` topic the edge answers from.

Others import only `queries` (read_api) and, for wiring, `spec` / `AuthorizationSettings`.
"""

from processors.authorization.bootstrap import spec
from processors.authorization.settings import AuthorizationSettings

__all__ = ["AuthorizationSettings", "spec"]
