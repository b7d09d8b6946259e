"""Every table module, imported so that `Base.metadata` knows the whole schema (Alembic, tests)."""

from hotline.db import tables  # noqa: F401
from hotline.db import occurrences  # noqa: F401
from hotline.db import recordings  # noqa: F401
from hotline.db.tables import Base

metadata = Base.metadata
