"""What reruns the rules that read an external input: its identity, a `params:` value.

Raw inputs (products, the CLC file, borders, flag lists, tables) enter rules through
`ancient()`, so touching or copying a file reruns nothing; its identity (a product's content
identity, a file's sha256) changes with its content and reruns exactly the rules that read it.
Inputs the workflow makes itself (the demo's, under the results folder) go by name: they may not
exist yet when the workflow is parsed.
"""

from __future__ import annotations

from pathlib import Path

from reben.io import sha256_file


class Identities:
    """Identities of the inputs of one run, each file hashed at most once per parse."""

    def __init__(self, results):
        self.results = Path(results).resolve()
        self._files: dict[str, str] = {}
        self._products: dict[str, str] = {}

    def made_here(self, path) -> bool:
        """A file under the results folder: one the workflow makes itself."""
        return Path(path).resolve().is_relative_to(self.results)

    def file(self, path) -> str | None:
        """`<name> sha256:<hex>` of an existing external file, else its name (None for None)."""
        if path is None:
            return None
        path = str(path)
        if path not in self._files:
            if self.made_here(path) or not Path(path).is_file():
                self._files[path] = Path(path).name
            else:
                self._files[path] = f"{Path(path).name} sha256:{sha256_file(path)}"
        return self._files[path]

    def product(self, path) -> str:
        """A Sentinel-2 product's content identity (metadata XML, image file sizes): a repaired
        file reruns its tile, a touched one nothing. Read once per parse (several rules of a
        tile take it)."""
        from reben.sentinel2.products import product_identity

        path = str(path)
        if path not in self._products:
            self._products[path] = Path(path).name if self.made_here(path) else product_identity(path)
        return self._products[path]
