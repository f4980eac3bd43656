"""HTTPS and mutual TLS per region against a real nginx with certificates made here (trustme).

One hostname (api.example.test) is served by a different nginx vhost on each loopback address,
as a public name is by each region's load balancer; the regions reach theirs through `connect_to`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from chaosrun.errors import InvalidInput
from chaosrun.model import HttpProbe, Region, TlsOptions
from tests.fixtures.nginx import VHost, run_nginx

from ._support import take_tls_sample as take_sample

NAME = "api.example.test"
US, EU, EXPIRED, MTLS = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"


@dataclass(frozen=True)
class Pki:
    port: int
    ca: Path  # the CA that signed every server certificate
    other_ca: Path  # a CA nobody uses
    client_cert: Path  # signed by the CA nginx trusts for clients
    client_key: Path
    stranger_cert: Path  # a client certificate from another CA
    stranger_key: Path


def _write(tmp: Path, name: str, blob: trustme.Blob) -> Path:
    path = tmp / name
    blob.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    tmp = tmp_path_factory.mktemp("tls")
    ca, other, client_ca = trustme.CA(), trustme.CA(), trustme.CA()
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_cert(NAME, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    client = client_ca.issue_cert("probe@example.test")
    stranger = other.issue_cert("probe@example.test")
    vhosts = [
        VHost(US, NAME, _write(tmp, "us.pem", ca.issue_cert(NAME).private_key_and_cert_chain_pem), "us-east"),
        VHost(EU, NAME, _write(tmp, "eu.pem", ca.issue_cert(NAME).private_key_and_cert_chain_pem), "eu-west"),
        VHost(EXPIRED, NAME, _write(tmp, "expired.pem", expired.private_key_and_cert_chain_pem), "expired"),
        VHost(
            MTLS,
            NAME,
            _write(tmp, "mtls.pem", ca.issue_cert(NAME).private_key_and_cert_chain_pem),
            "mtls",
            client_ca=_write(tmp, "client-ca.pem", client_ca.cert_pem),
        ),
    ]
    with run_nginx(tmp / "nginx", vhosts) as nginx:
        yield Pki(
            port=nginx.port,
            ca=_write(tmp, "ca.pem", ca.cert_pem),
            other_ca=_write(tmp, "other-ca.pem", other.cert_pem),
            client_cert=_write(tmp, "client.pem", client.cert_chain_pems[0]),
            client_key=_write(tmp, "client.key", client.private_key_pem),
            stranger_cert=_write(tmp, "stranger.pem", stranger.cert_chain_pems[0]),
            stranger_key=_write(tmp, "stranger.key", stranger.private_key_pem),
        )


def _url(pki: Pki, name: str = NAME) -> str:
    return f"https://{name}:{pki.port}/health"


def _region(address: str, name: str = "r", tls: TlsOptions | None = None) -> Region:
    return Region(name=name, connect_to=address, tls=tls)


def test_one_hostname_reaches_each_regions_own_vhost(pki: Pki) -> None:
    """The same URL, through each region's address: the right SNI, Host and certificate check."""
    trust = TlsOptions(ca_file=str(pki.ca))
    for address, body in ((US, "us-east"), (EU, "eu-west")):
        spec = HttpProbe(url=_url(pki), body_regex=f"^{body}$")
        outcome = take_sample(spec, _region(address, body, tls=trust))
        assert (outcome.ok, outcome.status, outcome.error) == (True, 200, None), body
    # the region's address decides: us-east's body is not what eu-west's address answers
    wrong = take_sample(HttpProbe(url=_url(pki), body_regex="^us-east$"), _region(EU, tls=trust))
    assert (wrong.ok, wrong.error) == (False, "body does not match /^us-east$/")


def test_probe_tls_options_override_the_regions(pki: Pki) -> None:
    region = _region(US, tls=TlsOptions(ca_file=str(pki.other_ca)))
    assert take_sample(HttpProbe(url=_url(pki)), region).error == "TLS: unknown CA"
    fixed = HttpProbe(url=_url(pki), tls=TlsOptions(ca_file=str(pki.ca)))
    assert take_sample(fixed, region).ok


def test_server_name_sets_sni_and_the_checked_name_for_an_address_url(pki: Pki) -> None:
    spec = HttpProbe(url=f"https://{US}:{pki.port}/", tls=TlsOptions(ca_file=str(pki.ca), server_name=NAME))
    assert take_sample(spec, Region(name="r")).ok


@pytest.mark.parametrize(
    ("address", "url_name", "ca", "error"),
    [
        pytest.param(US, NAME, "other_ca", "TLS: unknown CA", id="wrong-ca"),
        pytest.param(US, NAME, None, "TLS: unknown CA", id="system-store-does-not-know-the-test-ca"),
        pytest.param(US, "other.example.test", "ca", "TLS: hostname mismatch", id="wrong-name"),
        pytest.param(EXPIRED, NAME, "ca", "TLS: certificate expired", id="expired"),
    ],
)
def test_server_certificate_failures_name_their_cause(
    pki: Pki, address: str, url_name: str, ca: str | None, error: str
) -> None:
    tls = TlsOptions(ca_file=str(getattr(pki, ca))) if ca else None
    outcome = take_sample(HttpProbe(url=_url(pki, url_name)), _region(address, tls=tls))
    assert (outcome.ok, outcome.status, outcome.error) == (False, None, error)


def test_mutual_tls_with_the_right_client_certificate(pki: Pki) -> None:
    tls = TlsOptions(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    outcome = take_sample(HttpProbe(url=_url(pki), body_regex="^mtls$"), _region(MTLS, tls=tls))
    assert (outcome.ok, outcome.status) == (True, 200)


def test_client_key_from_a_secret_is_used_and_not_left_on_disk(pki: Pki, tmp_path: Path) -> None:
    os.environ["TMPDIR"] = str(tmp_path)  # the private key file goes (briefly) under here
    import tempfile

    tempfile.tempdir = None
    try:
        tls = TlsOptions(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_secret="client_key")
        secrets = {"client_key": pki.client_key.read_text()}
        outcome = take_sample(HttpProbe(url=_url(pki)), _region(MTLS, tls=tls), secrets=secrets)
    finally:
        del os.environ["TMPDIR"]
        tempfile.tempdir = None
    assert outcome.ok, outcome.error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("cert", "error"),
    [
        pytest.param(None, "TLS: client certificate refused (no client certificate sent)", id="missing"),
        pytest.param("stranger", "TLS: client certificate refused (client certificate not accepted)", id="wrong-ca"),
    ],
)
def test_refused_client_certificate_names_its_cause(pki: Pki, cert: str | None, error: str) -> None:
    tls = TlsOptions(ca_file=str(pki.ca))
    if cert is not None:
        tls = TlsOptions(
            ca_file=str(pki.ca), cert_file=str(getattr(pki, f"{cert}_cert")), key_file=str(getattr(pki, f"{cert}_key"))
        )
    outcome = take_sample(HttpProbe(url=_url(pki)), _region(MTLS, tls=tls))
    assert (outcome.ok, outcome.status, outcome.error) == (False, 400, error)


def test_insecure_skip_verify_accepts_an_unknown_ca(pki: Pki) -> None:
    tls = TlsOptions(ca_file=str(pki.other_ca), insecure_skip_verify=True)
    assert take_sample(HttpProbe(url=_url(pki)), _region(EXPIRED, tls=tls)).ok


def test_a_key_that_does_not_match_is_refused_before_sampling(pki: Pki) -> None:
    tls = TlsOptions(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.stranger_key))
    with pytest.raises(InvalidInput, match=r"cannot load the client certificate .*client\.pem: key values mismatch"):
        take_sample(HttpProbe(url=_url(pki)), _region(MTLS, tls=tls))


def test_a_ca_file_that_is_not_a_certificate_is_refused_before_sampling(pki: Pki, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("hello\n")
    with pytest.raises(InvalidInput, match=r"cannot use ca_file .*not-a-ca\.pem: "):
        take_sample(HttpProbe(url=_url(pki)), _region(US, tls=TlsOptions(ca_file=str(bad))))


def test_a_pooled_connection_is_never_reused_for_another_name(pki: Pki) -> None:
    """Same address, same options, one session: the second name gets its own verified handshake."""
    import asyncio

    import aiohttp

    from chaosrun.probes import ProbeContext, build_sampler

    region = _region(US, tls=TlsOptions(ca_file=str(pki.ca)))

    async def main() -> list[str | None]:
        async with aiohttp.ClientSession() as http:
            ctx = ProbeContext(http=http, secrets={})
            good = build_sampler(HttpProbe(url=_url(pki)), region, ctx)
            other = build_sampler(HttpProbe(url=_url(pki, "other.example.test")), region, ctx)
            errors = [(await good()).error, (await other()).error, (await good()).error]
        await asyncio.sleep(0.5)  # TLS transports finish closing before the loop does (see take_tls_sample)
        return errors

    assert asyncio.run(main()) == [None, "TLS: hostname mismatch", None]
