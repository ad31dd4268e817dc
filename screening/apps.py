from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Screening"

    def ready(self) -> None:
        from screening import (
            signals,  # noqa: F401  (stored files follow their rows on delete)
            tasks,  # noqa: F401  (registers the Celery tasks the services send by name)
        )
