"""factory_boy factories for the portal's models."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from portal.accounts.models import User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:
        if not create or not extracted:
            self.save()
            return
        if extracted == "admin":
            self.is_staff = self.is_superuser = True
        else:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
            self.is_staff = extracted == "reviewer"
        self.save()
