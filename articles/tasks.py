"""Background tasks, run by ``manage.py db_worker`` (django-tasks' database backend)."""

from django_tasks import task

from articles import services


@task()
def run_bulk_job(job_id: int) -> int:
    """Run the admin's bulk action ``job_id`` in batches; return how many articles it changed."""
    return services.run_bulk_job(job_id).changed


@task()
def run_command_job(job_id: int) -> str:
    """Run the long command a BulkJob names (an export, a renditions rebuild); return its result."""
    return services.run_command_job(job_id).result
