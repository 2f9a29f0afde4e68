"""The bundled demo low-code app (a helpdesk stored the way NocoDB stores it in SQLite)."""
