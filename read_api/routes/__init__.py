"""The API's routers, one module per resource; `ROUTERS` is the order they are mounted in."""
