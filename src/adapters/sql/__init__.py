"""PostgreSQL (asyncpg) and SQLite (aiosqlite) persistence through advanced-alchemy and SQLAlchemy."""
