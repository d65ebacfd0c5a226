"""`python -m reben check --configfile X`: the input check, before any job (see reben.run.check).
`python -m reben lmdb-content LMDB_DIR [--check LMDB_CONTENT.sha256]`: an LMDB's content hash,
recomputed from the LMDB (see reben.distribution.lmdb.content_hash), or compared with the file
encode_lmdb wrote."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_config(configfile) -> dict:
    """The config as the workflow sees it: validated, defaults filled, `{results}` resolved."""
    import yaml

    from reben.config import resolve_results_placeholder, validate_config

    path = Path(configfile) if configfile else REPO / "config" / "demo.yaml"
    config = yaml.safe_load(path.read_text()) or {}
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    return resolve_results_placeholder(config)


def run_check(config: dict):
    from reben.config import product_table
    from reben.run.check import check_inputs
    from reben.sentinel1.products import configured_products

    products = product_table(config, REPO)
    clc_path = config["clc"]["path"]
    borders = config["countries"]["borders"]
    s1 = configured_products(config["sentinel1"]) if config["sentinel1"]["enabled"] else {}
    return check_inputs(config, products, clc_path, borders, s1, config["retrieval"]["enabled"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reben")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check every input's metadata, before any job")
    check.add_argument("--configfile", help="the config (default: the embedded demo)")
    content = commands.add_parser("lmdb-content", help="an LMDB's content hash, recomputed from the LMDB")
    content.add_argument("lmdb", help="the LMDB folder (results/dataset/lmdb)")
    content.add_argument("--check", metavar="FILE", help="compare with this LMDB_CONTENT.sha256; exit 1 if it differs")
    args = parser.parse_args(argv)

    from reben.errors import RebenError

    try:
        if args.command == "lmdb-content":
            return run_lmdb_content(args.lmdb, args.check)
        result = run_check(load_config(args.configfile))
    except RebenError as e:
        print(e, file=sys.stderr)
        return 1
    print(result.report(), end="")
    return 1 if result.errors else 0


def run_lmdb_content(lmdb_dir, content_path) -> int:
    from reben.distribution.lmdb import check_content_hash, content_line, lmdb_content_hash

    if content_path is None:
        print(content_line(*lmdb_content_hash(lmdb_dir)), end="")
    else:
        digest, n = check_content_hash(lmdb_dir, content_path)
        print(f"{content_path}: OK, the LMDB holds {n} entries of content sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
