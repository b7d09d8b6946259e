"""The schema registry: every feature's store, imported so that `Base.metadata` knows the whole
schema (Alembic, tests). Like the daemon, the web app and the CLI, this is part of the composition
root, so it may import the features."""

import hotline.cases.store  # noqa: F401
import recordings.store  # noqa: F401
import scoring.store  # noqa: F401
import hotline.surveys.store  # noqa: F401
from hotline.db import tables  # noqa: F401
from hotline.db.tables import Base

metadata = Base.metadata
