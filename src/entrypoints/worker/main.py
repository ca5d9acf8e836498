"""`tenure worker`: a SAQ worker on Redis with the cron table. SIGTERM lets running jobs finish within
the shutdown grace period; jobs still running after it are cancelled and retried by SAQ."""

import logging

from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings) -> None:
    container = build_container(settings)
    await container.start()
    worker = container.saq_worker()
    logger.info(
        "worker starting",
        extra={"queue": settings.queue_name, "tasks": sorted(container.table), "concurrency": worker.concurrency},
    )
    try:
        await worker.start()
    finally:
        await container.stop()
