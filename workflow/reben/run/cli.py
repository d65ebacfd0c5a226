"""The `reben` command: what a person runs beside the workflow.

    reben check [--configfile X]      every input's metadata checked, before any job (reben.run.check)
    reben search ...                  a product table from the Copernicus Data Space catalogue
    reben lmdb-content LMDB [--check FILE]   an LMDB's content hash, recomputed from the LMDB
    reben verify DIR [--tar]          the distribution against its SHA256SUMS and MD5SUMS (or the
                                      dataset folder against its MANIFEST.sha256), and no
                                      unfinished rebuild (an INCOMPLETE marker)

Installed with the package (`pip install -e .`: a console script), and also `python -m reben`.
Every failure a user can act on is one line on stderr and exit 1, a wrong option too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from reben.errors import RebenError

REPO = Path(__file__).resolve().parents[3]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 1 like every other error."""

    def error(self, message):
        self.exit(1, f"{self.prog}: {message} (see {self.prog} --help)\n")


def load_config(configfile) -> dict:
    """The config as the workflow sees it: read strictly (a YAML error, a duplicate key or a tab
    in the indentation is one line naming its line), validated, defaults filled, `{results}`
    resolved."""
    from reben.config import load_config_file, resolve_results_placeholder, validate_config

    path = Path(configfile) if configfile else REPO / "config" / "demo.yaml"
    config = load_config_file(path)
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    return resolve_results_placeholder(config)


def run_check(args) -> int:
    from reben.config import product_table, results_folder_problems
    from reben.errors import ConfigError
    from reben.run.check import check_inputs
    from reben.sentinel1.products import configured_products

    config = load_config(args.configfile)
    products = product_table(config, REPO)
    if problems := results_folder_problems(config, products, REPO):
        raise ConfigError("\n".join(problems))
    s1 = configured_products(config["sentinel1"]) if config["sentinel1"]["enabled"] else {}
    result = check_inputs(
        config, products, config["clc"]["path"], config["countries"]["borders"], s1, config["retrieval"]["enabled"]
    )
    print(result.report(), end="")
    return 1 if result.errors else 0


def run_search(args) -> int:
    from reben.catalogue.search import run

    print(run(args))
    return 0


def run_lmdb_content(args) -> int:
    from reben.distribution.lmdb import check_content_hash, content_line, lmdb_content_hash

    if args.check is None:
        print(content_line(*lmdb_content_hash(args.lmdb)), end="")
    else:
        digest, n = check_content_hash(args.lmdb, args.check)
        print(f"{args.check}: OK, the LMDB holds {n} entries of content sha256 {digest}")
    return 0


def run_verify(args) -> int:
    from reben.distribution.verify import verify_folder

    verdict = verify_folder(args.dist, tar=args.tar)
    for problem in verdict.problems:
        print(problem, file=sys.stderr)
    if verdict.problems:
        print(
            f"{args.dist}: {len(verdict.problems)} problem(s), {len(verdict.checked)} file(s) checked", file=sys.stderr
        )
        return 1
    print(f"{args.dist}: OK, {len(verdict.checked)} file(s) match their checksums")
    return 0


def parser() -> argparse.ArgumentParser:
    from reben.catalogue.search import DESCRIPTION, add_arguments

    p = _Parser(prog="reben", description="Beside the reben-workflow: check inputs, search products, verify outputs.")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    check = commands.add_parser("check", help="check every input's metadata, before any job")
    check.add_argument("--configfile", help="the config (default: the embedded demo)")
    check.set_defaults(run=run_check)
    search = commands.add_parser("search", help="a product table from the Copernicus Data Space catalogue")
    search.description = DESCRIPTION
    add_arguments(search)
    search.set_defaults(run=run_search)
    content = commands.add_parser("lmdb-content", help="an LMDB's content hash, recomputed from the LMDB")
    content.add_argument("lmdb", help="the LMDB folder (results/dataset/lmdb)")
    content.add_argument("--check", metavar="FILE", help="compare with this LMDB_CONTENT.sha256; exit 1 if it differs")
    content.set_defaults(run=run_lmdb_content)
    verify = commands.add_parser(
        "verify", help="check the distribution against its SHA256SUMS and MD5SUMS (or the dataset's MANIFEST.sha256)"
    )
    verify.add_argument(
        "dist",
        metavar="DIST_DIR",
        help="the distribution folder (results/dist), or the dataset folder (results/dataset)",
    )
    verify.add_argument(
        "--tar", action="store_true", help="also decompress each archive and check its tar against TAR_MD5SUMS"
    )
    verify.set_defaults(run=run_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except RebenError as e:
        print(f"reben {args.command}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"reben {args.command}: {where}{e.strerror or e}", file=sys.stderr)
        return 1
