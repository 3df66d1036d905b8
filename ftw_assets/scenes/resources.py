"""The scene source resource: which STAC host (or local archive) the assets search, and how hard."""

from typing import Optional

import dagster as dg

from ..core.dataset import DatasetSettings
from ..core.selection import SelectionSettings
from ..core.sources import SceneSource, open_source
from ..core.windows import RetryPolicy

# Every asset that talks to a scene source runs in this pool; the dataset instance's dagster.yaml
# caps it (runner.DAGSTER_YAML), so parallel steps and backfill runs cannot flood one API.
STAC_POOL = "stac_api"


class SceneSourceResource(dg.ConfigurableResource):
    """Where scenes come from. Unset fields fall back to the dataset's ``dataset.json``
    (``--stac-host`` / ``--collection`` of ``ftwd create-dataset``)."""

    stac_host: Optional[str] = None
    collection: Optional[str] = None
    attempts: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 30.0

    def policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.attempts, backoff_s=self.backoff_s, timeout_s=self.timeout_s)

    def open(self, settings: DatasetSettings) -> SceneSource:
        return open_source(self.stac_host or settings.stac_host, self.collection or settings.collection, self.policy())

    def open_for_selection(self, selection: SelectionSettings) -> SceneSource:
        return open_source(self.stac_host or selection.stac_host, self.collection or selection.collection, self.policy())
