"""The Parquet lake: the streams' history as files, so Redis only keeps a recent tail.

Layout (see docs/data.md)::

    <lake>/events/sid=<sid>/day=<YYYY-MM-DD>/part-<first id>_<last id>.parquet
    <lake>/events/sid=<sid>/part-<first id>_<last id>.parquet   compacted: many days
    <lake>/_bookmarks/<sid>.json    the last entry id archived for the sponsor
    <lake>/.lock                    held while an archive runs

A part holds the entries of one sponsor and one UTC day, with the columns of the analytics
loaders (:func:`ult.analytics.streams.entries_to_arrow`: short card ids only). Each archive
run merges what it adds to a day with the day's earlier part into one new part, so a day has
one file at rest. A file is written under a temporary name, fsynced, renamed into place and
its directory fsynced; only then does the bookmark move. After a crash:

- a leftover temporary file is deleted (its entries are still after the bookmark);
- a part whose id range lies inside another's was merged into it: readers skip it and the
  next run deletes it;
- a part newer than the bookmark (killed before the bookmark was written) moves the
  bookmark up to it, so nothing is archived twice.

Trimming (``XTRIM MINID``) never goes past the bookmark: only archived entries leave Redis.

Modules: :mod:`.ids` (entry ids), :mod:`.layout` (paths, parts, bookmarks), :mod:`.durable`
(fsynced writes), :mod:`.reading`, :mod:`.locking`, :mod:`.archiving` (a run),
:mod:`.trimming`, :mod:`.compaction` (``--compact``: day parts merged into large files) and
:mod:`.cli` (``ult archive``). An archive run is re-exported here.
"""

from ult.analytics.lake.archiving import ArchiveReport, archive

__all__ = ["ArchiveReport", "archive"]
