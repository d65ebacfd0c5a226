"""Retrieval of Sentinel-2 (L1C, L2A) and Sentinel-1 GRD products from the Copernicus Data Space
Ecosystem (CDSE); `reben search ...` is the product search (reben.catalogue.search).

The documented calls: the OData catalogue (`GET <catalogue>/Products?$filter=Name eq '<name>.SAFE'`,
answering `{"value": [{"Id", "Name", "ContentLength", "Online", "Checksum": [{"Algorithm":
"MD5", "Value"}, ...]}]}`), the identity service (`POST <token url>` with the form fields
client_id=cdse-public, grant_type=password, username, password, answering `{"access_token",
"expires_in"}`) and the download service (`GET <download>/Products(<Id>)/$value` with
`Authorization: Bearer <token>`, which may redirect to another host of the service).

`retrieve_product` searches by name, downloads into `<dest>.part` with HTTP Range resume and
bounded retries with exponential back-off (a fresh token whenever the old one expires), checks
the catalogue's MD5 and that the zip opens and holds the product's metadata file, and renames the
file into place. Before a download starts, the free space beside the destination is checked
against what is still to come. A 429 or 5xx answer is retried after its Retry-After. Credentials come
from the environment only (CREDENTIAL_VARIABLES), never from the config.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from reben.errors import RebenError, RetrievalError, Sen2corError
from reben.safe import check_l1c_zip

LOG = logging.getLogger("reben.catalogue.retrieval")

CREDENTIAL_VARIABLES = ("CDSE_USERNAME", "CDSE_PASSWORD")
CHUNK_BYTES = 1 << 16
"""Read size; a dropped connection loses at most the chunk being read."""
MAX_BACKOFF_S = 600
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Endpoints:
    catalogue: str = "https://catalogue.dataspace.copernicus.eu/odata/v1"
    download: str = "https://zipper.dataspace.copernicus.eu/odata/v1"
    token: str = "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
    client_id: str = "cdse-public"


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    name: str
    size: int | None
    md5: str | None
    online: bool


def credentials_from_env(environ=None) -> tuple[str, str]:
    """(username, password) from CDSE_USERNAME and CDSE_PASSWORD; one line naming them if unset."""
    environ = os.environ if environ is None else environ
    missing = [v for v in CREDENTIAL_VARIABLES if not environ.get(v)]
    if missing:
        raise RetrievalError(
            f"CDSE credentials missing: set the environment variable(s) {' and '.join(missing)} "
            f"to your Copernicus Data Space login (they are never read from the config)"
        )
    return environ[CREDENTIAL_VARIABLES[0]], environ[CREDENTIAL_VARIABLES[1]]


def host_of(url: str) -> str:
    """The host (and port) of a URL: what an error line names instead of the whole request."""
    return urlsplit(url).netloc or url


def failure(e: requests.RequestException, timeout_s: float | None = None) -> str:
    """What went wrong with a request, in a few words and without its URL (which, for a catalogue
    search, holds the whole encoded filter): the operating system's reason (Connection refused,
    Name or service not known), a timeout, or the innermost error's own message."""
    if isinstance(e, requests.Timeout):
        return f"no answer within {timeout_s:g} s" if timeout_s else "no answer in time"
    cause, seen = e, set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        inner = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
        if inner is None:
            inner = next((a for a in cause.args if isinstance(a, BaseException)), None)
        if not isinstance(inner, BaseException):
            break
        cause = inner
    return f"{type(cause).__name__}: {str(cause)[:200]}"


def _safe_name(name: str) -> str:
    name = Path(name).name.removesuffix(".zip")
    return name if name.endswith(".SAFE") else name + ".SAFE"


def search_product(session: requests.Session, endpoints: Endpoints, name: str, timeout_s: float = 60) -> CatalogueEntry:
    """The catalogue entry of the product of that exact name (with or without .SAFE)."""
    safe = _safe_name(name)
    label = safe.removesuffix(".SAFE")
    try:
        r = session.get(f"{endpoints.catalogue}/Products", params={"$filter": f"Name eq '{safe}'"}, timeout=timeout_s)
    except requests.RequestException as e:
        raise RetrievalError(
            f"{label}: CDSE catalogue at {host_of(endpoints.catalogue)} unreachable: {failure(e, timeout_s)}"
        ) from None
    host = host_of(endpoints.catalogue)
    if r.status_code >= 400:
        raise RetrievalError(f"{label}: CDSE catalogue at {host} refused the search (HTTP {r.status_code})")
    try:
        values = r.json().get("value", [])
    except ValueError:
        raise RetrievalError(f"{label}: CDSE catalogue at {host} answered something other than JSON") from None
    if not values:
        raise RetrievalError(
            f"{label}: the CDSE catalogue knows no product of that name; check the name in the product list"
        )
    entry = next((v for v in values if v.get("Online", True)), values[0])
    md5 = next(
        (
            c.get("Value")
            for c in entry.get("Checksum") or []
            if str(c.get("Algorithm", "")).upper() == "MD5" and c.get("Value")
        ),
        None,
    )
    size = entry.get("ContentLength")
    return CatalogueEntry(
        id=entry["Id"],
        name=entry.get("Name", safe),
        size=int(size) if size else None,
        md5=md5.lower() if md5 else None,
        online=bool(entry.get("Online", True)),
    )


class Tokens:
    """Access tokens of the identity service, fetched on first use and again when expired."""

    def __init__(
        self,
        session: requests.Session,
        endpoints: Endpoints,
        username: str,
        password: str,
        timeout_s: float = 60,
        clock=time.monotonic,
    ):
        self.session, self.endpoints, self.timeout_s, self.clock = session, endpoints, timeout_s, clock
        self._form = {
            "client_id": endpoints.client_id,
            "grant_type": "password",
            "username": username,
            "password": password,
        }
        self._token, self._expires = None, 0.0

    def header(self) -> dict[str, str]:
        if self._token is None or self.clock() >= self._expires:
            self.refresh()
        return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> None:
        try:
            r = self.session.post(self.endpoints.token, data=self._form, timeout=self.timeout_s)
        except requests.RequestException as e:
            raise RetrievalError(
                f"CDSE identity service at {host_of(self.endpoints.token)} unreachable: {failure(e, self.timeout_s)}"
            ) from None
        if r.status_code in (400, 401):
            raise RetrievalError(
                f"CDSE refused the credentials in {' and '.join(CREDENTIAL_VARIABLES)} "
                f"(HTTP {r.status_code}): check your Copernicus Data Space login"
            )
        try:
            r.raise_for_status()
            body = r.json()
            self._token = body["access_token"]
        except (requests.RequestException, ValueError, KeyError) as e:
            raise RetrievalError(f"CDSE identity service gave no access token ({e})") from None
        # Renew a minute early, so that a token does not expire between check and use.
        self._expires = self.clock() + max(float(body.get("expires_in", 600)) - 60, 1)


class _Retry(Exception):
    """A download attempt that failed in a way worth trying again (after `wait_s`, if the
    server said how long)."""

    def __init__(self, message: str, wait_s: float | None = None):
        super().__init__(message)
        self.wait_s = wait_s


def retry_after_s(response, default: float) -> float:
    """The wait a 429/503 answer asks for (Retry-After in seconds, at most MAX_BACKOFF_S), else
    `default`."""
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), MAX_BACKOFF_S)
    except ValueError:
        return default


def product_metadata(name: str) -> tuple[str, str]:
    """(kind, metadata file at the top of its SAFE folder) of a product, from its name."""
    if name.startswith("S1"):
        return "a Sentinel-1", "manifest.safe"
    level = "L2A" if "_MSIL2A_" in name else "L1C"
    return f"an {level}", f"MTD_MSI{level}.xml"


def check_space(label: str, folder: Path, needed: int, free_bytes=None) -> None:
    """One line saying how much is needed and how much is free, if the download cannot fit."""
    free = (free_bytes or (lambda p: shutil.disk_usage(p).free))(folder)
    if needed > free:
        raise RetrievalError(
            f"{label}: not enough disk space in {folder}: the download needs {_size(needed)}, {_size(free)} are free"
        )


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _same_service(url_a: str, url_b: str) -> bool:
    """Whether the token may follow a redirect: same host, or both hosts of the CDSE domain."""
    a, b = urlsplit(url_a).hostname or "", urlsplit(url_b).hostname or ""
    return a == b or (a.endswith(".dataspace.copernicus.eu") and b.endswith(".dataspace.copernicus.eu"))


def _open_download(session, url: str, tokens: Tokens, offset: int, timeout_s: float) -> requests.Response:
    """GET the product from `offset` on, following redirects with the token (at most 5)."""
    for _ in range(6):
        headers = dict(tokens.header())
        if offset:
            headers["Range"] = f"bytes={offset}-"
        r = session.get(url, headers=headers, stream=True, allow_redirects=False, timeout=timeout_s)
        if r.status_code in (301, 302, 303, 307, 308) and "Location" in r.headers:
            target = requests.compat.urljoin(url, r.headers["Location"])
            r.close()
            if not _same_service(url, target):
                raise RetrievalError(f"download redirected outside the CDSE service, to {target}")
            url = target
            continue
        return r
    raise RetrievalError(f"too many redirects downloading {url}")


def _attempt(session, url: str, part: Path, tokens: Tokens, timeout_s: float, label: str) -> None:
    """One download attempt, appending to `part` (or restarting it if the server ignores Range)."""
    have = part.stat().st_size if part.exists() else 0
    try:
        r = _open_download(session, url, tokens, have, timeout_s)
    except requests.RequestException as e:
        raise _Retry(f"no connection to {host_of(url)}: {failure(e, timeout_s)}") from None
    with r:
        if r.status_code == 401:
            tokens.refresh()
            raise _Retry("access token refused (HTTP 401), fetched a new one", wait_s=0)
        if r.status_code == 416 and have:
            return  # nothing left beyond what we have; the size check decides
        if r.status_code in RETRYABLE_STATUS:
            raise _Retry(
                f"HTTP {r.status_code}", retry_after_s(r, default=None) if r.status_code in (429, 503) else None
            )
        if r.status_code not in (200, 206):
            raise RetrievalError(f"{label}: download refused (HTTP {r.status_code} from {url})")
        mode = "ab" if r.status_code == 206 and have else "wb"
        if mode == "wb" and have:
            LOG.info("%s: the server ignored the resume request; starting again", label)
        try:
            with open(part, mode) as f:
                for chunk in r.iter_content(CHUNK_BYTES):
                    f.write(chunk)
        except (requests.RequestException, OSError) as e:
            raise _Retry(f"connection lost ({type(e).__name__})") from None


def file_md5(path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def download_product(
    entry: CatalogueEntry,
    dest,
    session: requests.Session,
    tokens: Tokens,
    endpoints: Endpoints,
    retries: int = 5,
    backoff_s: float = 30,
    timeout_s: float = 120,
    sleep=time.sleep,
    free_bytes=None,
) -> Path:
    """Download `entry` to `dest` (a zip) with resume and bounded retries, verify, rename."""
    dest = Path(dest)
    label = entry.name.removesuffix(".SAFE")
    if not entry.online:
        raise RetrievalError(
            f"{label}: offline in the CDSE archive (Online=false); order it from the long-term archive and retry later"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    url = f"{endpoints.download}/Products({entry.id})/$value"
    if entry.size is not None:
        have = part.stat().st_size if part.exists() else 0
        check_space(label, dest.parent, max(entry.size - have, 0), free_bytes)
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if entry.size is not None and have > entry.size:
            part.unlink()
            have = 0
        if entry.size is not None and have == entry.size:
            break
        try:
            _attempt(session, url, part, tokens, timeout_s, label)
            got = part.stat().st_size if part.exists() else 0
            if entry.size is None or got == entry.size:
                break
            raise _Retry(f"incomplete: {got} of {entry.size} bytes")
        except _Retry as e:
            failures += 1
            got = part.stat().st_size if part.exists() else 0
            if failures > retries:
                raise RetrievalError(
                    f"{label}: download did not complete after {retries} retries ({e}); {got} of "
                    f"{entry.size if entry.size is not None else '?'} bytes kept in {part} for the next run"
                ) from None
            delay = e.wait_s if e.wait_s is not None else min(backoff_s * 2 ** (failures - 1), MAX_BACKOFF_S)
            LOG.warning(
                "%s: attempt %d failed (%s); %d bytes so far, retrying in %.0f s", label, failures, e, got, delay
            )
            sleep(delay)

    if entry.md5 is None:
        LOG.warning("%s: the catalogue reports no MD5 checksum; only the zip is checked", label)
    else:
        got_md5 = file_md5(part)
        if got_md5 != entry.md5:
            part.unlink()
            raise RetrievalError(
                f"{label}: MD5 {got_md5} of the download differs from the catalogue's "
                f"{entry.md5}; the file was removed, run again to download it anew"
            )
    kind, metadata = product_metadata(label)
    try:
        check_l1c_zip(part, label, metadata=metadata, kind=kind)
    except Sen2corError as e:
        part.unlink()
        raise RetrievalError(f"{e} (the download was removed)") from None
    os.replace(part, dest)
    return dest


def retrieve_product(
    name: str,
    dest,
    endpoints: Endpoints = Endpoints(),
    retries: int = 5,
    backoff_s: float = 30,
    timeout_s: float = 120,
    environ=None,
    sleep=time.sleep,
    free_bytes=None,
) -> Path:
    """Search, download and verify one product; `dest` is the zip to write (`<name>.zip`)."""
    username, password = credentials_from_env(environ)
    start = time.monotonic()
    with requests.Session() as session:
        entry = search_product(session, endpoints, name, timeout_s)
        LOG.info("%s: CDSE product %s, %s bytes, MD5 %s", entry.name, entry.id, entry.size, entry.md5)
        tokens = Tokens(session, endpoints, username, password, timeout_s)
        path = download_product(
            entry, dest, session, tokens, endpoints, retries, backoff_s, timeout_s, sleep, free_bytes
        )
    seconds = time.monotonic() - start
    LOG.info(
        "%s: retrieved to %s (%.1f MB in %.0f s, MD5 checked, zip checked)",
        entry.name,
        path,
        path.stat().st_size / 1e6,
        seconds,
    )
    return path


def retrieve_for_rule(name: str, dest, log_path, settings: dict) -> Path:
    """Rules retrieve_sentinel2 and retrieve_sentinel1: `retrieve_product` with the config's
    `retrieval` settings, logging to the job's log. The rule runs inside Snakemake's own process, possibly beside other
    retrievals, so the log file takes only this thread's records."""
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    this_thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == this_thread)
    logger = logging.getLogger("reben")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        return retrieve_product(
            name,
            dest,
            endpoints=Endpoints(
                catalogue=settings["catalogue_url"],
                download=settings["download_url"],
                token=settings["token_url"],
                client_id=settings["client_id"],
            ),
            retries=settings["retries"],
            backoff_s=settings["backoff_s"],
            timeout_s=settings["timeout_s"],
        )
    except RebenError as e:
        LOG.error("%s", e)
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
