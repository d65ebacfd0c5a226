"""Retrieval from the Copernicus Data Space against a local server that answers the documented
calls: OData search (by name, and by the filters of reben.catalogue.search: Collection/Name,
OData.CSC.Intersects, ContentDate/Start ranges, typed Attributes, contains(Name), with $orderby,
$top and $skip), the identity service's password grant, and the product download (with a
redirect between download hosts, HTTP Range, interruptions, stalls, 429 with Retry-After and a
token that expires mid-download)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import stat
import threading
import zipfile
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from conftest import run_snakemake, shared

from reben.catalogue.retrieval import CREDENTIAL_VARIABLES, Endpoints, credentials_from_env, retrieve_product
from reben.errors import RetrievalError

USER, PASSWORD = "ada@example.org", "s3cret"
GOOD = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
FLAKY = "S2A_MSIL1C_20170613T101031_N0205_R022_T34VER_20170613T101025"
STALLED = "S2A_MSIL1C_20170617T113321_N0205_R080_T29UPU_20170617T113319"
BAD_MD5 = "S2A_MSIL1C_20170701T093031_N0205_R136_T35VPK_20170701T093032"
NOT_A_ZIP = "S2B_MSIL1C_20170924T093019_N0205_R136_T35VNK_20170924T093016"
UNKNOWN = "S2B_MSIL1C_20180101T000000_N0206_R001_T01AAA_20180101T000001"


def product_zip(name: str, payload: int = 300_000, metadata: str | None = None) -> bytes:
    """A small zip in the CDSE layout: one <name>.SAFE/ folder holding the product's metadata
    file (MTD_MSIL1C.xml, MTD_MSIL2A.xml or Sentinel-1's manifest.safe) and data."""
    if metadata is None:
        metadata = (
            "manifest.safe" if name.startswith("S1") else "MTD_MSIL2A.xml" if "_MSIL2A_" in name else "MTD_MSIL1C.xml"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{name}.SAFE/{metadata}", "<product/>")
        z.writestr(
            f"{name}.SAFE/GRANULE/L1C_X/IMG_DATA/X_B01.jp2", hashlib.sha256(name.encode()).digest() * (payload // 32)
        )
    return buffer.getvalue()


class FakeCDSE:
    """What the server holds and how it misbehaves, plus a record of the requests it saw."""

    def __init__(self):
        self.products = {}
        self.requests = []
        self.tokens = set()
        self.issued = 0  # tokens handed out so far (the valid ones are in `tokens`)
        self.catalogue = []  # entries answered to filtered searches (fixtures and derived)
        self.throttle = 0  # this many catalogue searches first get a 429 with Retry-After
        self._footprints = {}

    def footprint(self, entry):
        """An entry's GeoFootprint as a shapely geometry, read once per product."""
        from shapely.geometry import shape

        if entry["Id"] not in self._footprints:
            self._footprints[entry["Id"]] = shape(entry["GeoFootprint"])
        return self._footprints[entry["Id"]]

    def add(self, name, data: bytes, mode="ok", md5=None):
        self.products[name + ".SAFE"] = {
            "Id": hashlib.md5(name.encode()).hexdigest()[:8] + "-fd82-5a53-ba09-b05ce085e40c",
            "data": data,
            "mode": mode,
            "md5": md5 or hashlib.md5(data).hexdigest(),
            "served": 0,
        }

    def by_id(self, product_id):
        return next((p for p in self.products.values() if p["Id"] == product_id), None)

    def downloads(self, name):
        return [
            r
            for r in self.requests
            if r[0] == "GET" and "/download/" in r[1] and self.products[name + ".SAFE"]["Id"] in r[1]
        ]


def _top_level_and(text: str) -> list[str]:
    """Split an OData filter at the `and`s outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(" and ", i):
            parts.append(text[start:i])
            start = i = i + 5
            continue
        i += 1
    return parts + [text[start:]]


COMPARE = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
COLLECTIONS = {"S1": "SENTINEL-1", "S2": "SENTINEL-2"}


def catalogue_filter(text: str, footprint=None):
    """A predicate on catalogue entries for the documented filter forms the search uses; any
    other clause is a ValueError (answered with HTTP 400, as the catalogue does). `footprint`
    gives an entry's footprint as a shapely geometry (by default read from its GeoFootprint)."""
    import shapely
    from shapely import wkt
    from shapely.geometry import shape

    footprint = footprint or (lambda e: shape(e["GeoFootprint"]))
    tests, spatial = [], []
    for clause in _top_level_and(text):
        if m := re.fullmatch(r"Collection/Name eq '([\w-]+)'", clause):
            tests.append(lambda e, v=m[1]: COLLECTIONS[e["Name"][:2]] == v)
        elif m := re.fullmatch(r"contains\(Name,'([^']+)'\)", clause):
            tests.append(lambda e, v=m[1]: v in e["Name"])
        elif m := re.fullmatch(r"ContentDate/Start (lt|le|gt|ge) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)", clause):
            when = datetime.fromisoformat(m[2].replace("Z", "+00:00"))
            tests.append(
                lambda e, op=COMPARE[m[1]], t=when: op(
                    datetime.fromisoformat(e["ContentDate"]["Start"].replace("Z", "+00:00")), t
                )
            )
        elif m := re.fullmatch(r"OData\.CSC\.Intersects\(area=geography'SRID=4326;(POLYGON\(\(.+\)\))'\)", clause):
            area = wkt.loads(m[1])
            shapely.prepare(area)
            spatial.append(lambda e, a=area: a.intersects(footprint(e)))
        elif m := re.fullmatch(
            r"Attributes/OData\.CSC\.(String|Double)Attribute/any\(att:att/Name eq '(\w+)' and "
            r"att/OData\.CSC\.\1Attribute/Value (eq|lt|le|gt|ge) ('[^']*'|[\d.]+)\)",
            clause,
        ):
            kind, name, op, raw = m.groups()
            value = raw.strip("'") if kind == "String" else float(raw)
            tests.append(
                lambda e, n=name, op=COMPARE[op], v=value: any(
                    a["Name"] == n and op(a["Value"], v) for a in e.get("Attributes", [])
                )
            )
        else:
            raise ValueError(f"unsupported filter clause: {clause}")
    tests += spatial  # the costliest last, for the entries that pass the others
    return lambda entry: all(t(entry) for t in tests)


def make_handler(cdse: FakeCDSE):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            cdse.requests.append(("POST", self.path, dict(self.headers)))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            if self.path != "/token" or form.get("client_id") != "cdse-public" or form.get("grant_type") != "password":
                return self.send_json(400, {"error": "invalid_request"})
            if (form.get("username"), form.get("password")) != (USER, PASSWORD):
                return self.send_json(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
            token = f"token-{cdse.issued}"
            cdse.issued += 1
            cdse.tokens.add(token)
            self.send_json(
                200,
                {
                    "access_token": token,
                    "expires_in": 600,
                    "refresh_expires_in": 3600,
                    "refresh_token": "refresh",
                    "token_type": "Bearer",
                },
            )

        def do_GET(self):
            cdse.requests.append(("GET", self.path, dict(self.headers)))
            url = urlsplit(self.path)
            if url.path == "/odata/v1/Products" and not re.fullmatch(
                r"Name eq '[^']+'", parse_qs(url.query)["$filter"][0]
            ):
                return self.search(parse_qs(url.query))
            if url.path == "/odata/v1/Products":
                query = parse_qs(url.query)["$filter"][0]
                name = query[len("Name eq '") : -1]
                found = [p for n, p in cdse.products.items() if n == name]
                return self.send_json(
                    200,
                    {
                        "@odata.context": "$metadata#Products",
                        "value": [
                            {
                                "@odata.mediaContentType": "application/octet-stream",
                                "Id": p["Id"],
                                "Name": name,
                                "ContentType": "application/octet-stream",
                                "ContentLength": len(p["data"]),
                                "Online": True,
                                "EvictionDate": "9999-12-31T23:59:59.999Z",
                                "S3Path": f"/eodata/Sentinel-2/MSI/L1C/2017/06/13/{name}",
                                "Checksum": [
                                    {"Value": p["md5"], "Algorithm": "MD5", "ChecksumDate": "2023-11-15T10:00:00Z"},
                                    {"Value": "0" * 64, "Algorithm": "BLAKE3", "ChecksumDate": "2023-11-15T10:00:00Z"},
                                ],
                                "ContentDate": {"Start": "2017-06-13T10:10:31.026Z", "End": "2017-06-13T10:10:31.026Z"},
                            }
                            for p in found
                        ],
                    },
                )
            product_id = url.path.split("Products(", 1)[-1].split(")", 1)[0]
            if url.path.startswith("/zipper/"):  # the documented host redirects to a download node
                self.send_response(307)
                self.send_header("Location", f"/download/odata/v1/Products({product_id})/$value")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("Authorization", "").removeprefix("Bearer ") not in cdse.tokens:
                return self.send_json(401, {"detail": "Expired signature!"})
            product = cdse.by_id(product_id)
            if product is None:
                return self.send_json(404, {"detail": "Not found"})
            self.serve(product)

        def search(self, query):
            if cdse.throttle:
                cdse.throttle -= 1
                self.send_response(429)
                self.send_header("Retry-After", "7")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            top, skip = int(query.get("$top", ["20"])[0]), int(query.get("$skip", ["0"])[0])
            if top > 1000 or skip > 10000:  # the catalogue's documented limits, and its answer
                field, limit = ("$top", 1000) if top > 1000 else ("$skip", 10000)
                return self.send_json(
                    422, {"detail": [{"type": "less_than_equal", "loc": ["query", field], "ctx": {"le": limit}}]}
                )
            try:
                keep = catalogue_filter(query["$filter"][0], cdse.footprint)
            except ValueError as e:
                return self.send_json(400, {"detail": str(e)})
            order = query.get("$orderby", ["ContentDate/Start asc"])[0].split()
            assert order[0] == "ContentDate/Start", order
            found = sorted(
                (e for e in cdse.catalogue if keep(e)),
                key=lambda e: e["ContentDate"]["Start"],
                reverse=order[-1] == "desc",
            )
            page = found[skip : skip + top]
            if query.get("$expand") != ["Attributes"]:
                page = [{k: v for k, v in e.items() if k != "Attributes"} for e in page]
            self.send_json(200, {"@odata.context": "$metadata#Products(Attributes())", "value": page})

        def serve(self, product):
            data = product["data"]
            start = 0
            if rng := self.headers.get("Range"):
                start = int(rng.removeprefix("bytes=").rstrip("-"))
            body = data[start:]
            product["served"] += 1
            if product["mode"] == "throttle_once" and product["served"] == 1:
                self.send_response(429)
                self.send_header("Retry-After", "3")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            cut = {"stall": 0, "interrupt_once": len(body) // 2 if product["served"] == 1 else len(body)}.get(
                product["mode"], len(body)
            )
            if product["mode"] == "expire_mid" and product["served"] == 1:
                cut = len(body) // 2
                cdse.tokens.clear()  # the token expires while the body streams
            self.wfile.write(body[:cut])
            if cut < len(body):  # drop the connection mid-body
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

    return Handler


@pytest.fixture
def cdse():
    fake = FakeCDSE()
    fake.add(GOOD, product_zip(GOOD))
    fake.add(FLAKY, product_zip(FLAKY), mode="interrupt_once")
    fake.add(STALLED, product_zip(STALLED), mode="stall")
    fake.add(BAD_MD5, product_zip(BAD_MD5), md5="0123456789abcdef0123456789abcdef")
    fake.add(NOT_A_ZIP, b"<html>Service unavailable</html>" * 100)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fake.endpoints = Endpoints(catalogue=f"{base}/odata/v1", download=f"{base}/zipper/odata/v1", token=f"{base}/token")
    yield fake
    server.shutdown()
    server.server_close()


ENV = {"CDSE_USERNAME": USER, "CDSE_PASSWORD": PASSWORD}


def fetch(cdse, name, dest_dir, sleeps=None, retries=3, environ=ENV):
    return retrieve_product(
        name,
        Path(dest_dir) / f"{name}.zip",
        cdse.endpoints,
        retries=retries,
        backoff_s=2,
        timeout_s=5,
        environ=environ,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def test_retrieves_a_product_through_the_redirect_and_checks_it(cdse, tmp_path):
    path = fetch(cdse, GOOD, tmp_path)
    assert path == tmp_path / f"{GOOD}.zip"
    assert path.read_bytes() == cdse.products[GOOD + ".SAFE"]["data"]
    assert not (tmp_path / f"{GOOD}.zip.part").exists()
    search = [r for r in cdse.requests if r[1].startswith("/odata/v1/Products?")]
    assert len(search) == 1 and "Name+eq+%27" + GOOD + ".SAFE%27" in search[0][1]
    (download,) = cdse.downloads(GOOD)
    assert download[2]["Authorization"] == "Bearer token-0"  # the token followed the redirect


def test_an_interrupted_download_resumes_where_it_stopped(cdse, tmp_path):
    sleeps = []
    path = fetch(cdse, FLAKY, tmp_path, sleeps)
    data = cdse.products[FLAKY + ".SAFE"]["data"]
    assert hashlib.md5(path.read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    first, second = cdse.downloads(FLAKY)
    assert "Range" not in first[2]
    resumed_at = int(second[2]["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= len(data) // 2  # what arrived before the cut is not fetched again
    assert sleeps == [2]


def test_a_download_that_never_completes_fails_after_bounded_retries(cdse, tmp_path):
    sleeps = []
    with pytest.raises(RetrievalError) as e:
        fetch(cdse, STALLED, tmp_path, sleeps, retries=3)
    message = str(e.value)
    assert message.startswith(f"{STALLED}: download did not complete after 3 retries")
    assert "\n" not in message
    assert len(cdse.downloads(STALLED)) == 4
    assert sleeps == [2, 4, 8]  # exponential back-off
    assert not (tmp_path / f"{STALLED}.zip").exists()


def test_a_checksum_mismatch_fails_and_removes_the_download(cdse, tmp_path):
    with pytest.raises(
        RetrievalError,
        match=rf"^{BAD_MD5}: MD5 [0-9a-f]{{32}} of the download differs "
        r"from the catalogue's 0123456789abcdef0123456789abcdef",
    ):
        fetch(cdse, BAD_MD5, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the product nor a .part to resume from


def test_a_download_that_is_not_a_zip_fails_clearly(cdse, tmp_path):
    with pytest.raises(RetrievalError, match=rf"^{NOT_A_ZIP}: .* is not a readable zip"):
        fetch(cdse, NOT_A_ZIP, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_product_name_fails_with_one_line(cdse, tmp_path):
    with pytest.raises(RetrievalError, match=rf"^{UNKNOWN}: the CDSE catalogue knows no product of that name"):
        fetch(cdse, UNKNOWN, tmp_path)
    assert cdse.downloads(GOOD) == []


def test_missing_credentials_name_the_variables_before_any_request(cdse, tmp_path):
    with pytest.raises(RetrievalError) as e:
        fetch(cdse, GOOD, tmp_path, environ={"CDSE_USERNAME": USER})
    assert "CDSE_PASSWORD" in str(e.value) and "CDSE_USERNAME" not in str(e.value)
    with pytest.raises(RetrievalError, match="CDSE_USERNAME and CDSE_PASSWORD"):
        credentials_from_env({})
    assert cdse.requests == []


def test_refused_credentials_fail_with_one_line(cdse, tmp_path):
    with pytest.raises(
        RetrievalError, match=r"CDSE refused the credentials in CDSE_USERNAME and CDSE_PASSWORD \(HTTP 401\)"
    ):
        fetch(cdse, GOOD, tmp_path, environ={"CDSE_USERNAME": USER, "CDSE_PASSWORD": "wrong"})


@pytest.mark.integration
def test_retrieval_rules_keep_going_past_a_product_that_never_arrives(cdse, tmp_path, monkeypatch):
    """Through the workflow with --keep-going: an L1C and an L2A product (of another acquisition:
    a run processes each acquisition once) and an S1 GRD scene of sentinel1.product_table arrive
    (protected; the scene goes on through gpt to backscatter); the stalled product fails after
    its retries with one line naming it."""
    import sys

    for variable in CREDENTIAL_VARIABLES:
        monkeypatch.setenv(variable, ENV[variable])
    cdse.add(L2A_JULY, product_zip(L2A_JULY))
    cdse.add(S1_GRD, product_zip(S1_GRD))
    s1_table = tmp_path / "s1.csv"
    s1_table.write_text(f"name,s2_name\n{S1_GRD},{L2A_JULY}\n")
    repo = Path(__file__).resolve().parents[2]
    config = {
        "results": "results",
        "sentinel2": {"input_dir": "downloads", "products": [{"name": GOOD}, {"name": STALLED}, {"name": L2A_JULY}]},
        "sentinel1": {
            "enabled": True,
            "input_dir": "no_backscatter",
            "product_table": str(s1_table),
            "grd": {
                "gpt": f"{sys.executable} {repo / 'tests/doubles/gpt_double.py'}",
                "input_dir": "grd",
                "threads": 1,
            },
        },
        "retrieval": retrieval_settings(cdse, retries=2),
    }
    configfile = write_config(tmp_path, config)
    workdir = tmp_path / "run"
    workdir.mkdir()
    targets = [
        f"downloads/{GOOD}.zip",
        f"downloads/{STALLED}.zip",
        f"downloads/{L2A_JULY}.zip",
        f"results/sentinel1/backscatter/{S1_GRD}_VV_linear.tif",
    ]
    proc = run_snakemake(
        workdir, "--keep-going", *targets, "--resources", "cdse_downloads=2", configfile=configfile, check=False
    )
    assert proc.returncode != 0
    for name, target in ((GOOD, targets[0]), (L2A_JULY, targets[2]), (S1_GRD, f"grd/{S1_GRD}.zip")):
        path = workdir / target
        assert path.is_file(), proc.stderr[-3000:]
        assert path.read_bytes() == cdse.products[name + ".SAFE"]["data"], name
        assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # protected
    assert (workdir / targets[3]).is_file()
    assert not (workdir / targets[1]).exists()
    log = (workdir / "results/logs/retrieve_sentinel2" / f"{STALLED}.log").read_text()
    assert f"ERROR {STALLED}: download did not complete after 2 retries" in log
    assert GOOD not in log  # each job's log holds its own product only
    assert (workdir / "results/logs/retrieve_sentinel1" / f"{S1_GRD}.log").is_file()


L2A = "S2A_MSIL2A_20170613T101031_N0500_R022_T33UUP_20230727T151702"
L2A_JULY = "S2B_MSIL2A_20170708T101029_N0500_R022_T33UUP_20230801T093415"
S1_GRD = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B"


def test_l2a_and_s1_grd_products_are_fetched_and_checked_like_l1c(cdse, tmp_path):
    cdse.add(L2A, product_zip(L2A))
    cdse.add(S1_GRD, product_zip(S1_GRD))
    for name in (L2A, S1_GRD):
        assert fetch(cdse, name, tmp_path).read_bytes() == cdse.products[name + ".SAFE"]["data"]


def test_a_zip_without_the_products_metadata_file_is_refused(cdse, tmp_path):
    cdse.add(L2A, product_zip(L2A, metadata="MTD_MSIL1C.xml"))
    with pytest.raises(RetrievalError, match=rf"^{L2A}: .* holds no MTD_MSIL2A.xml: not an L2A product"):
        fetch(cdse, L2A, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_429_waits_as_long_as_retry_after_says(cdse, tmp_path):
    cdse.add(L2A, product_zip(L2A), mode="throttle_once")
    sleeps = []
    path = fetch(cdse, L2A, tmp_path, sleeps)
    assert path.read_bytes() == cdse.products[L2A + ".SAFE"]["data"]
    assert sleeps == [3]  # Retry-After: 3, not the back-off of 2 s


def test_a_token_that_expires_mid_download_is_renewed_and_the_download_resumes(cdse, tmp_path):
    cdse.add(L2A, product_zip(L2A), mode="expire_mid")
    sleeps = []
    path = fetch(cdse, L2A, tmp_path, sleeps)
    data = cdse.products[L2A + ".SAFE"]["data"]
    assert sleeps == [2, 0]  # the lost connection backs off; the refused token is renewed at once
    assert path.read_bytes() == data
    first, refused, resumed = cdse.downloads(L2A)
    assert first[2]["Authorization"] == refused[2]["Authorization"] == "Bearer token-0"
    assert resumed[2]["Authorization"] == "Bearer token-1"  # a fresh token from the identity service
    assert 0 < int(resumed[2]["Range"].removeprefix("bytes=").removesuffix("-")) <= len(data) // 2


def test_a_download_that_does_not_fit_on_disk_fails_before_it_starts(cdse, tmp_path):
    size = len(cdse.products[GOOD + ".SAFE"]["data"])
    with pytest.raises(RetrievalError) as e:
        retrieve_product(GOOD, tmp_path / f"{GOOD}.zip", cdse.endpoints, environ=ENV, free_bytes=lambda folder: 1000)
    assert str(e.value) == (
        f"{GOOD}: not enough disk space in {tmp_path}: the download needs {size / 1e6:.1f} MB, 0.0 MB are free"
    )
    assert cdse.downloads(GOOD) == [] and list(tmp_path.iterdir()) == []


def test_a_real_l2a_product_zipped_as_cdse_delivers_it_passes_the_check(cdse, tmp_path):
    """The real L2A product's own files (metadata and the 60 m bands), zipped in the CDSE layout,
    are fetched and pass the check that looks for MTD_MSIL2A.xml."""
    real = shared("sentinel2", "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")
    name = real.name.removesuffix(".SAFE")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in sorted(real.rglob("*")):
            if path.is_file() and (path.suffix in (".xml", ".safe") or "R60m" in path.parts):
                z.write(path, f"{real.name}/{path.relative_to(real)}")
    cdse.add(name, buffer.getvalue())
    path = fetch(cdse, name, tmp_path)
    from reben.sentinel2.products import ProductFiles, find_product_metadata

    assert find_product_metadata(ProductFiles(path)) == "MTD_MSIL2A.xml"


def retrieval_settings(cdse, retries: int) -> dict:
    """The retrieval section of a workflow config that talks to the local CDSE stand-in."""
    return {
        "enabled": True,
        "catalogue_url": cdse.endpoints.catalogue,
        "download_url": cdse.endpoints.download,
        "token_url": cdse.endpoints.token,
        "retries": retries,
        "backoff_s": 0,
        "timeout_s": 5,
    }


def write_config(folder: Path, config: dict) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.integration
def test_a_failed_download_keeps_the_empty_input_folder(cdse, tmp_path, monkeypatch):
    """Snakemake removes the empty folders of missing outputs at the end of a run; the user's own
    (empty) sentinel2.input_dir is restored."""
    for variable in CREDENTIAL_VARIABLES:
        monkeypatch.setenv(variable, ENV[variable])
    configfile = write_config(
        tmp_path,
        {
            "results": "results",
            "sentinel2": {"input_dir": "downloads", "products": [{"name": UNKNOWN}]},
            "retrieval": retrieval_settings(cdse, retries=0),
        },
    )
    workdir = tmp_path / "run"
    (workdir / "downloads").mkdir(parents=True)
    proc = run_snakemake(workdir, f"downloads/{UNKNOWN}.zip", configfile=configfile, check=False)
    assert proc.returncode != 0
    assert (workdir / "downloads").is_dir() and not list((workdir / "downloads").iterdir())
