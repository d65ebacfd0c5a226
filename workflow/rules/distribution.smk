# LMDB, archives and provenance.
