"""factory_boy factories for the portal's models.

`PredictionFactory(done=True)` (or running, failed, rejected; queued by default) builds the
whole chain: a clinician's study, one PNG image with its thumbnail, and the prediction, with the
study's derived status refreshed as the services would leave it.
"""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from portal.accounts.models import User
from screening.models import Image, Prediction, Review, Study
from tests.support.images import fake_jpeg, fake_png, png_data
from tests.support.screener import FakeResult

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


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    owner = factory.SubFactory(UserFactory, role="clinician")
    reference = factory.Sequence(lambda n: f"CXR-TEST{n:04d}")


class ImageFactory(factory.django.DjangoModelFactory):
    """A PNG image (a synthetic chest film) with its thumbnail, stored like a submission's."""

    class Meta:
        model = Image

    study = factory.SubFactory(StudyFactory)
    position = 0
    original_name = "chest.png"
    format = Image.Format.PNG
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size_bytes = 1024
    width = 256
    height = 256
    file = factory.django.FileField(filename="upload", data=factory.LazyFunction(png_data))
    thumbnail = factory.django.FileField(filename="thumb.png", data=factory.LazyFunction(fake_png))


class PredictionFactory(factory.django.DjangoModelFactory):
    """A current prediction, queued unless a status trait says otherwise."""

    class Meta:
        model = Prediction
        skip_postgeneration_save = True

    image = factory.SubFactory(ImageFactory)
    model_name = FakeResult.model_name
    model_version = FakeResult.model_version
    status = Prediction.Status.QUEUED

    class Params:
        running = factory.Trait(
            status=Prediction.Status.RUNNING,
            started=factory.LazyFunction(timezone.now),
            attempts=1,
        )
        done = factory.Trait(
            status=Prediction.Status.DONE,
            label="pneumonia",
            decision="pneumonia",
            operating_point="screening",
            thresholds=factory.LazyFunction(lambda: dict(FakeResult().thresholds)),
            probabilities=factory.LazyFunction(lambda: dict(FakeResult().probabilities)),
            heatmap=factory.django.FileField(
                filename="heatmap.jpg", data=factory.LazyFunction(fake_jpeg)
            ),
            timings_ms=factory.LazyFunction(lambda: dict(FakeResult().timings_ms)),
            attempts=1,
            started=factory.LazyFunction(timezone.now),
            finished=factory.LazyFunction(timezone.now),
        )
        failed = factory.Trait(
            status=Prediction.Status.FAILED,
            reason="decoder exploded",
            attempts=1,
            finished=factory.LazyFunction(timezone.now),
        )
        rejected = factory.Trait(
            status=Prediction.Status.REJECTED,
            reason="lateral view",
            attempts=1,
            finished=factory.LazyFunction(timezone.now),
        )

    @factory.post_generation
    def study_refresh(self, create: bool, extracted, **kwargs) -> None:
        """Leave the study's derived status and labels as the services would."""
        if create:
            from screening.services import study_status_refresh

            study_status_refresh(study=self.image.study)


class ReviewFactory(factory.django.DjangoModelFactory):
    """A reviewer's agreeing review of a done prediction."""

    class Meta:
        model = Review
        skip_postgeneration_save = True

    prediction = factory.SubFactory(PredictionFactory, done=True)
    reviewer = factory.SubFactory(UserFactory, role="reviewer")
    verdict = Review.Verdict.AGREE
    label = factory.LazyAttribute(lambda o: o.prediction.finding)

    @factory.post_generation
    def study_refresh(self, create: bool, extracted, **kwargs) -> None:
        """Mark the study reviewed, as review_record would."""
        if create:
            from screening.services import study_status_refresh

            study_status_refresh(study=self.prediction.image.study)
