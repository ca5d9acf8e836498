"""SAQ job queue on Redis: the production and test job runner."""
