"""Benchmark of `reben search` against a local catalogue of 2,000 products over 10 tiles (run by hand).

The catalogue is the stand-in of tests/catalogue/test_retrieval.py (the documented OData
filters, `$top` at most 1,000 and `$skip` at most 10,000, pages in ContentDate/Start order),
served from its own process, filled as the real one is for 2017-2018: per tile 200 L2A products,
each acquisition under its original baseline (N0205/N0206) and under N0500 of Collection-1
(some also re-delivered with another processing time), one in ten a product at a datastrip edge
that covers a sliver of its tile. The search asks for all 10 tiles over the two years with a
cloud limit, one product per tile and season: per tile a query of three pages of 100, the
coverage of every product, the choice of one per acquisition, the limits and the seasons.
The wall time of the whole search (requests, parsing, coverage, selection, the table) is
measured --repeat times, and the worst is compared with the limit.

    .venv/bin/python bench/bench_search.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow"), str(REPO / "tests"), str(REPO / "tests" / "catalogue")]

LIMIT_S = 5.0
TILES = ["33UUP", "33UVP", "33UWP", "33UXP", "33UUQ", "33UVQ", "33UWQ", "33UXQ", "33TUN", "33TVN"]
PER_TILE = 200


def catalogue_entries(seed: int = 0) -> list[dict]:
    """PER_TILE L2A products of each tile in 2017-2018: acquisitions every few days, most of
    them twice (original and N0500 baseline), some re-delivered, one in ten at a datastrip edge."""
    from datetime import datetime, timedelta, timezone

    from test_search import derive, tile_part

    rng = random.Random(seed)
    entries = []
    for tile in TILES:
        full, edge = tile_part(tile, 0.0, 1.0), tile_part(tile, 0.0, 0.06)
        when = datetime(2017, 1, 2, 10, 0, 31, 24000, tzinfo=timezone.utc)
        made = 0
        while made < PER_TILE:
            when += timedelta(days=rng.choice((2, 3, 5)), seconds=rng.randint(-30, 30))
            sensing = when.strftime("%Y%m%dT%H%M%S")
            start = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
            mission, orbit = rng.choice((("S2A", "R022"), ("S2B", "R122")))
            footprint = edge if rng.random() < 0.1 else full
            cloud = round(rng.uniform(0, 100), 3)
            baselines = [("N0206", when.strftime("%Y%m%dT%H%M%S"))]
            if rng.random() < 0.8:
                baselines.append(("N0500", f"2023{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}T101010"))
            if rng.random() < 0.05:
                baselines.append(("N0206", (when + timedelta(hours=4)).strftime("%Y%m%dT%H%M%S")))
            for baseline, processed in baselines[: PER_TILE - made]:
                name = f"{mission}_MSIL2A_{sensing}_{baseline}_{orbit}_T{tile}_{processed}"
                entries.append(derive("l2a", name, start, cloud=cloud, footprint=footprint))
                made += 1
    return entries


def serve(entries: list[dict], port) -> None:
    """The local catalogue, in a process of its own (so that it does not share the search's GIL)."""
    from http.server import ThreadingHTTPServer

    from test_retrieval import FakeCDSE, make_handler

    fake = FakeCDSE()
    fake.catalogue = entries
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    port.value = server.server_address[1]
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from reben.run.cli import main as reben

    entries = catalogue_entries()
    print(f"catalogue: {len(entries)} L2A products over {len(TILES)} tiles", flush=True)
    port = multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=serve, args=(entries, port), daemon=True)
    server.start()
    try:
        while not port.value:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port.value}/odata/v1"
        walls = []
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "s2.csv"
            argv = ["search", "--tiles", *TILES, "--start", "2017-01-01", "--end", "2018-12-31"]
            argv += ["--max-cloud", "30", "--one-per-tile-and-season", "--catalogue-url", url, "-o", str(out)]
            for i in range(args.repeat):
                start = time.monotonic()
                code = reben(argv)
                walls.append(time.monotonic() - start)
                if code:
                    raise SystemExit(f"reben search failed (exit {code})")
                rows = out.read_text().count("\n") - 1
                print(f"  run {i + 1}: {walls[-1]:.2f} s, {rows} products written", flush=True)
                logging.getLogger().setLevel(logging.WARNING)  # the search's summary line once
    finally:
        server.terminate()
        server.join()
    worst = max(walls)
    print(
        f"search of {len(entries)} products over {len(TILES)} tiles: best {min(walls):.2f} s, worst {worst:.2f} s "
        f"of {len(walls)} -> {'PASS' if worst < LIMIT_S else 'FAIL'} (limit {LIMIT_S:g} s)"
    )
    sys.exit(0 if worst < LIMIT_S else 1)


if __name__ == "__main__":
    main()
