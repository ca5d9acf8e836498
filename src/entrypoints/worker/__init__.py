"""The SAQ worker process: runs the task table's jobs and its cron."""
