"""The Celery app: Redis broker in production, an in-process (eager) worker when embedded.

This is the only module that knows about the broker.
"""

from __future__ import annotations

from celery import Celery

from schemas.settings import Settings, get_settings


def make_celery(settings: Settings) -> Celery:
    broker = settings.broker_url or "memory://"
    app = Celery("casesearch", broker=broker,
                 backend=settings.broker_url or "cache+memory://",
                 include=["workers.tasks"])
    app.conf.update(
        task_always_eager=settings.in_process_worker,
        task_eager_propagates=True,
        # Acks late + reject on worker loss: a task that dies mid-way runs again, and every
        # task is idempotent, so running twice is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        task_default_queue="casesearch",
        worker_hijack_root_logger=False,
    )
    return app


celery_app = make_celery(get_settings())
