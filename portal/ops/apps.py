from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "portal.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from portal.ops.var import var_dirs_ensure

        var_dirs_ensure()
