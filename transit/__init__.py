"""The backend core: tables, the unit of work, and the services that use them."""
