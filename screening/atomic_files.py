"""Write rows and the stored files they name as one unit, as far as a database and a file store
can be one.

The files are written inside the transaction. If the transaction rolls back, they are deleted.
If the database goes away during COMMIT itself, nobody knows whether the rows landed: the files
stay (deleting them could leave committed rows naming missing files), CommitInDoubt is raised,
and the media sweep later removes whichever files no row names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import InterfaceError, OperationalError, transaction

from screening.storage import storage_delete_quietly


class CommitInDoubt(OperationalError):
    """The database went away during COMMIT: the writes may or may not have landed."""


@contextmanager
def files_atomic(*, names: list[str]) -> Iterator[None]:
    """Run the block in a transaction; delete the files in `names` if it rolls back.

    `names` is filled by the block as it stores files. A failure of the COMMIT itself keeps
    them and raises CommitInDoubt.
    """
    body_finished = False
    try:
        with transaction.atomic():
            yield
            body_finished = True
    except BaseException as error:
        if not body_finished:
            _files_delete(names=names)
            raise
        # The block ran to its end, so this came from COMMIT or after it: the rows may be in.
        if isinstance(error, OperationalError | InterfaceError) and not isinstance(
            error, CommitInDoubt
        ):
            raise CommitInDoubt(f"The database went away during COMMIT: {error}") from error
        raise


def _files_delete(*, names: list[str]) -> None:
    for name in names:
        storage_delete_quietly(name=name)
