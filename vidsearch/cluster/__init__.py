"""Indexing with Ray workers on many machines; this process stays the library's one writer.

`driver` (`ClusterIndexer`: the local indexer with its decode -> encode step done by workers),
`worker` (`VideoWorker`: one per node, the run's model by fingerprint, whole videos), `paths`
(`PathMap`: the same file under another mount point). Importing this package does not import
Ray: only a run with a cluster address does.
"""

from vidsearch.cluster.driver import LOCAL, ClusterEvents, ClusterIndexer, ClusterOptions, WorkerStats
from vidsearch.cluster.paths import PathMap

__all__ = ["LOCAL", "ClusterEvents", "ClusterIndexer", "ClusterOptions", "PathMap", "WorkerStats"]
