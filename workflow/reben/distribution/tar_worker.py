"""A worker process of the archives' tar stream (reben.distribution.archives.TarStream): reads runs
of files and returns their tar bytes (`tar_members`), one run at a time, in the order asked.

Run as `python -m reben.distribution.tar_worker` by TarStream, never by hand. Requests come on
stdin (run, mtime, limit), replies go to stdout: the run's tar bytes, or the error met, which
the stream raises as it would have in its own thread. A plain subprocess rather than
multiprocessing: a multiprocessing child imports the parent's main module again (a Snakemake
script, a user's own script), a forked one copies a process whose threads (the archive's
stages) are running.
"""

from __future__ import annotations

import pickle
import sys

from reben.distribution.tar_format import tar_members
from reben.errors import DistributionError


def read_exact(stream, size: int) -> bytearray | None:
    """`size` bytes from an unbuffered binary stream, or None at its end."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            return None
        got += n
    return buf


def read_message(stream):
    """One message from `stream`: a pickle after its length (8 bytes, little-endian), then the
    raw blobs whose sizes it lists (read straight into buffers: no copy through pickle). Returns
    (message, blobs), or None at the stream's end."""
    head = read_exact(stream, 8)
    if head is None:
        return None
    body = read_exact(stream, int.from_bytes(head, "little"))
    if body is None:
        return None
    message, sizes = pickle.loads(body)
    blobs = []
    for size in sizes:
        blob = read_exact(stream, size)
        if blob is None:
            return None
        blobs.append(blob)
    return message, blobs


def write_message(stream, message, blobs=()) -> None:
    body = pickle.dumps((message, [len(b) for b in blobs]), protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(body).to_bytes(8, "little"))
    stream.write(body)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def serve(requests, replies) -> None:
    """Answer each run asked on `requests` on `replies`: ("ok", (layout, members, file bytes))
    with the tar bytes as blobs (layout: None where a blob goes, (path, size) where the stream
    reads a large file itself), or the error met."""
    while (request := read_message(requests)) is not None:
        (run, mtime, limit), _ = request
        blobs = []
        try:
            parts, members, file_bytes = tar_members(run, mtime, limit)
            layout = [None if isinstance(part, bytes) else part for part in parts]
            blobs = [part for part in parts if isinstance(part, bytes)]
            reply = ("ok", (layout, members, file_bytes))
        except DistributionError as e:
            reply = ("distribution", str(e))
        except OSError as e:
            reply = ("os", (e.errno, e.strerror, e.filename))
        write_message(replies, reply, blobs)


if __name__ == "__main__":
    serve(sys.stdin.buffer.raw, sys.stdout.buffer)
