"""Server-rendered dashboard pages (session login), scoped by tenant like the API."""
