"""The worker's Celery app: `celery -A backend.worker.app worker` (and `beat`) load `app`."""

from backend.settings import get_settings
from backend.taskqueue.config import create_celery

app = create_celery(get_settings())
