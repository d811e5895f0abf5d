"""The billing processor: sessions from OCPP transactions, tariffs, and their prices."""
