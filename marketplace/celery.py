import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app keeps its jobs in jobs.py: the ticket app is called `tasks`, so `tasks.py` would
# read as that app's module rather than "the Celery tasks of an app".
app.autodiscover_tasks(related_name="jobs")
