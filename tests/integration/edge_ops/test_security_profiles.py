"""Security profiles 0-3 at the upgrade of a real edge (plain and TLS listeners), and the failure rate limit."""

from __future__ import annotations

import base64
import ssl
import uuid
import warnings

import pytest
import websockets
from argon2 import PasswordHasher
from websockets.exceptions import InvalidStatus

from tests.integration.edge import _support as edge
from tests.integration.edge_ops._certs import Authority

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple 42"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def opens(url: str, **kwargs) -> int:
    """101 when the upgrade succeeds, else the HTTP status of the refusal."""
    try:
        ws = await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5, **kwargs)
    except InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    return 101


async def refusal(url: str, **kwargs) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5, **kwargs)
    return info.value


async def test_profiles_0_to_3(kafka_settings, tmp_path, capfd):
    await edge.create_topics(kafka_settings)
    pki = Authority(tmp_path / "pki")
    server = pki.issue("edge.test", server=True)
    tag = uuid.uuid4().hex[:6]
    p0, p1, p2, p3 = (f"P{n}-{tag}" for n in range(4))
    hashed = PasswordHasher().hash(PASSWORD)
    await edge.seed(kafka_settings, [edge.station(p0), edge.station(p1, security_profile=1, password_hash=hashed),
                                     edge.station(p2, security_profile=2, password_hash=hashed),
                                     edge.station(p3, security_profile=3)])
    async with edge.running_edge(kafka_settings, tmp_path / "spool", tls_port=0, tls_cert_file=server.cert,
                                 tls_key_file=server.key, tls_ca_file=pki.cert, auth_failure_burst=100) as e:
        ws_url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
        wss_url = f"wss://127.0.0.1:{e.settings.tls_port}/ocpp"
        tls = ssl.create_default_context(cafile=pki.cert)

        assert await opens(f"{ws_url}/{p0}") == 101
        assert await opens(f"{ws_url}/unknown-{tag}") == 101  # unknown stations get profile 0 by default

        assert await opens(f"{ws_url}/{p1}", additional_headers=basic(p1, PASSWORD)) == 101
        assert await opens(f"{ws_url}/{p1}", additional_headers=basic(p1, PASSWORD)) == 101  # cached check
        assert e.gate.passwords.verifications == 1
        wrong = await refusal(f"{ws_url}/{p1}", additional_headers=basic(p1, "not-the-password"))
        assert wrong.response.status_code == 401
        assert wrong.response.headers["WWW-Authenticate"].startswith("Basic")
        assert (await refusal(f"{ws_url}/{p1}")).response.status_code == 401
        assert await opens(f"{ws_url}/{p1}", additional_headers=basic(p0, PASSWORD)) == 401  # other username

        plain = await refusal(f"{ws_url}/{p2}", additional_headers=basic(p2, PASSWORD))
        assert plain.response.status_code == 403
        assert b"requires TLS" in plain.response.body
        assert await opens(f"{wss_url}/{p2}", additional_headers=basic(p2, PASSWORD), ssl=tls) == 101
        assert await opens(f"{wss_url}/{p2}", ssl=tls) == 401

        mine, other = pki.issue(p3), pki.issue(f"someone-else-{tag}")
        with_cert = ssl.create_default_context(cafile=pki.cert)
        with_cert.load_cert_chain(mine.cert, mine.key)
        assert await opens(f"{wss_url}/{p3}", ssl=with_cert) == 101
        assert await opens(f"{ws_url}/{p3}") == 403
        assert await opens(f"{wss_url}/{p3}", ssl=tls) == 403  # no client certificate
        wrong_name = ssl.create_default_context(cafile=pki.cert)
        wrong_name.load_cert_chain(other.cert, other.key)
        assert await opens(f"{wss_url}/{p3}", ssl=wrong_name) == 403
        stranger_ca = Authority(tmp_path / "other-pki", "stranger CA").issue(p3)
        untrusted = ssl.create_default_context(cafile=pki.cert)
        untrusted.load_cert_chain(stranger_ca.cert, stranger_ca.key)
        with pytest.raises((ssl.SSLError, ConnectionError, EOFError, websockets.exceptions.InvalidHandshake)):
            await opens(f"{wss_url}/{p3}", ssl=untrusted)  # does not chain to the CA: the TLS handshake fails

        tls11 = ssl.create_default_context(cafile=pki.cert)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            tls11.minimum_version = ssl.TLSVersion.TLSv1
            tls11.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
            await opens(f"{wss_url}/{p0}", ssl=tls11)  # TLS >= 1.2 only
    logged = capfd.readouterr()
    assert PASSWORD not in logged.out + logged.err
    assert "not-the-password" not in logged.out + logged.err


async def test_repeated_failures_from_one_address_get_429(kafka_settings, tmp_path):
    await edge.create_topics(kafka_settings)
    station = f"RL-{uuid.uuid4().hex[:6]}"
    await edge.seed(kafka_settings, [edge.station(station, security_profile=1,
                                                  password_hash=PasswordHasher().hash(PASSWORD))])
    async with edge.running_edge(kafka_settings, tmp_path, auth_failure_burst=3, auth_failure_per_s=0.1) as e:
        url = f"ws://127.0.0.1:{e.settings.port}/ocpp/{station}"
        statuses = [await opens(url, additional_headers=basic(station, f"guess-{n}")) for n in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        limited = await refusal(url, additional_headers=basic(station, PASSWORD))  # even the right one, for now
        assert limited.response.status_code == 429
        assert int(limited.response.headers["Retry-After"]) >= 1
        assert e.gate.passwords.verifications == 3  # a limited attempt costs no argon2 work
