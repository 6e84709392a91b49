"""Known-answer tests of the pure OAuth 1.0a functions (ibstream.auth.signing).

The expected values were computed with the ``openssl`` and ``bc`` command-line tools only, by
``fixtures/make_vectors.sh`` (no Python involved), on the committed test-only keys in
``fixtures/`` (generated with ``openssl genrsa 2048``; they protect nothing) and the 2048-bit
prime of ``fixtures/fixed_prime.hex`` (``openssl prime -generate -bits 2048 -hex``).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ibstream.auth import signing
from ibstream.exceptions import OAuthConfigError

FIXTURES = Path(__file__).parent / "fixtures"

FIXED_PRIME_HEX = (
    "DE50838769A4BED1C3F68076D93778EFA3BE54144CD5DE0521CF1729901297A9A8756EA9890F1C7AA3968435"
    "5EC3247DA15658E4553BCFED8888931773916577E67759A18AA6D6AC40D41618D4A2A67F2E5DB0786272BD6E"
    "61451C993E5851885320DA6BFA385490D5D50A20BECE81412C914C43EE6B2E3CFC2C9362902AB37CA8D54B57"
    "2F2A2EF2EF4D626D620590A46B0ECFD59BD33AC02AC822B752F37A7D850196D545BF599D18D0887ED1C898C5"
    "25BC1896A3E5A8671E9BCF3F2D465EA146D496C0B3F16C156DF6B0E963F5B44CDBC542EC5C4E737E5E061AB4"
    "7F2EC4224DB5B9D238DD5AAE355A22A30E87ECC5BB399C4D71879AB57D7FED2155FC64C3"
)
A_RANDOM = 0x9F3C5B7A1D2E4F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8
SECRET_HEX = "00112233445566778899aabbccddeeff01234567"
CONSUMER_KEY = "ABCDEFGHI"
TOKEN = "0123456789abcdef0123"
TIMESTAMP = "1700000000"
NONCE = "abcdefghIJKLMNOP"
LST_URL = "https://api.ibkr.com/v1/api/oauth/live_session_token"
GET_URL = "https://api.ibkr.com/v1/api/iserver/marketdata/snapshot"

# -- vectors from fixtures/make_vectors.sh (openssl + bc) -----------------------------------
CHALLENGE = (
    "2d51df6b890e104920d6d83085c62f967d0088ce4a630581c7868d9ed29549a78707ff4e30bcd2b1e220697c"
    "91887bec4c4c09fb7715727ad2820427d7ca6030a5302def5849865acf3e15026620632558fe7c426bb8ac7e"
    "9cf6145e3fea8813867df65dde992922fa9fe1e3384becdcd50cc4bcb2cb48bf9833ae4474affcf13abcf207"
    "ffadf3d29d869150cb0d1e9ce6fa3d00aefb3f05759885f8053d342bb71599984c12c1a7fc52dfcfa50ce8c5"
    "cc6ff6cb6b7fe5d16c7b5ccd68a8e61c4ffcd8c14b5a7a34a2302674e763526eddfce2308c44267cd60e126c"
    "619e2e10dff48f2ce157bbd0f7fffa234af566f071932b4be89037be915a89e9f182cf9"
)
RESPONSE = (
    "30bdce39dbf8bd4b4e50ebe32153a998f00ec7ae6026344dc810d223f60290a25ed486b4f5df0f520e55cacc"
    "e4c407fbe810d18d51e7c187be02b872370851ebaa626e4ca62185fff979ef5f739ad609edf48c06e1ba80cd"
    "eda2eedb929738d6a859c9d7fe58c20749d67aa0f073c5f539d47eeb0fc14cf2bce5b50074915a9c78063e96"
    "613fe711b3cfddab3c0e300d49acbde223bb315c8229ed99580d3198e11ee9db7b865c33e6b115e2cf2f75f6"
    "40b0f7d99742f9d871876cdedd1074040f6071f5c8df62b1def033939258a865c737bd384878b92798da85e0"
    "ebacbe31ce1df432b07dacf418d8b655bd1b6fa7abbb071fe7fe396a94db886bd282a4b"
)
K_BYTES = (
    "00b8f7900aea951fe9075bb2e419b7d3f586b74835c921576dd1ee20c4951518a5f982c081ae11b794446c31"
    "c455117d278e144b8ea94562961d0396e4e7cc267ba25227cbedb8865b546e73660e431aaeb0461d40f757b8"
    "1da57eda4d3ed5160abac90acf6d76483ca88df26dd870f43e41fdce96f900c4b92617f55d14e2cc76dd4917"
    "fd357d6a99317d4a186557c351280ef5c0aab2c478fc0bf051261f14056bcbaa43d5067bd1b742a737bedb8b"
    "0a6698ef0bf336991b04e836d0805bcbb509c635d1db56e991a10b99a3512b9264cb7a2474fc0d39e7c4f634"
    "9e45657614efa943b1ecb6248c140ac79e797241d072461eaf9c6ff7dbf242781eeb7eb2e0"
)
LST = "fGX4iZy4HTR1Kfsz9yJ8S1viW5Y="
LST_SIGNATURE = "6ea328b132c084c323204a4b64fda50566adbb15"
LST_BASE = (
    "POST&https%3A%2F%2Fapi.ibkr.com%2Fv1%2Fapi%2Foauth%2Flive_session_token&diffie_hellman_c"
    "hallenge%3D2d51df6b890e104920d6d83085c62f967d0088ce4a630581c7868d9ed29549a78707ff4e30bcd"
    "2b1e220697c91887bec4c4c09fb7715727ad2820427d7ca6030a5302def5849865acf3e15026620632558fe7"
    "c426bb8ac7e9cf6145e3fea8813867df65dde992922fa9fe1e3384becdcd50cc4bcb2cb48bf9833ae4474aff"
    "cf13abcf207ffadf3d29d869150cb0d1e9ce6fa3d00aefb3f05759885f8053d342bb71599984c12c1a7fc52d"
    "fcfa50ce8c5cc6ff6cb6b7fe5d16c7b5ccd68a8e61c4ffcd8c14b5a7a34a2302674e763526eddfce2308c442"
    "67cd60e126c619e2e10dff48f2ce157bbd0f7fffa234af566f071932b4be89037be915a89e9f182cf9%26oau"
    "th_consumer_key%3DABCDEFGHI%26oauth_nonce%3DabcdefghIJKLMNOP%26oauth_signature_method%3D"
    "RSA-SHA256%26oauth_timestamp%3D1700000000%26oauth_token%3D0123456789abcdef0123"
)
RSA_SIGNATURE = (
    "jVaL059k8CCBqpnqTzyN78eU/BdleLXrl7uCOhwS06gYN75GMDBPtBa+6Ksn6TEpeIRl8Kr5N2/1Y4TNrLGiyhdG"
    "5RWVzhQHhUyMVoFqMlb/skraYa/bubGw0TwesunLSUfH/S36j27yTlNPPeWR2XwcuSGzK5q/MAd3L4DC1WBX7PTw"
    "hW/JknAJBowlAhFIRZj5Hql8jH5l+V5F6gz/boHW06RecVDxisuZ22XkdBkXW9DSQ7bX1Fyh4ScoBhBUTvDDyKHH"
    "76ouKVnjkZ794/+LVgE32uhSfJDQCDd6tZrI0FxaPTdAFsygdKYfcAGWjw2o+mvgr9mfKMvRaiLIvQ=="
)
GET_BASE = (
    "GET&https%3A%2F%2Fapi.ibkr.com%2Fv1%2Fapi%2Fiserver%2Fmarketdata%2Fsnapshot&conids%3D265"
    "598%2C8314%26fields%3D31%2C84%26oauth_consumer_key%3DABCDEFGHI%26oauth_nonce%3DabcdefghI"
    "JKLMNOP%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1700000000%26oauth_to"
    "ken%3D0123456789abcdef0123"
)
HMAC_SIGNATURE = "3SN04VFbOvyuV8Bwyn1qrXqSC3shYV9QgPdLmXU2WBk="
ENCRYPTED_SECRET = (
    "do/4OSPR7hBbMMoeZJ6yi+Rh6I2i3MLfqnj2NlDEFExl8AjJ85J7Vi0n6HvXu6mx1+gOMnvv8crQaiZZsz1bgnTf"
    "amxRGh4Z4ac+1eAx+gHjZUst7AzN7zyJWGFd3nxekCQAKDQPMbzBDHx+44zdPVQsYX/x4u0+dcLJPg4xdZHYXAMo"
    "SbMeiavaXwiTEvGMEtYqNTJiHqdguKxOvAo4khhDGKbAscQfu/QNueTvL5VNIJrF+0Nt7KUKf5KeHFFOET2bB0qH"
    "p1X56jHl5XJMoHemBv7Pc742CDHJZfe+sI9L5nhlGM7drZm2/H+xzc4vzHN3WAnDmOl/6gmzmD0DUw=="
)


def key(name: str) -> signing.rsa.RSAPrivateKey:
    return signing.load_private_key((FIXTURES / name).read_bytes(), name)


def lst_params() -> dict[str, str]:
    return {
        "diffie_hellman_challenge": CHALLENGE,
        "oauth_consumer_key": CONSUMER_KEY,
        "oauth_nonce": NONCE,
        "oauth_signature_method": "RSA-SHA256",
        "oauth_timestamp": TIMESTAMP,
        "oauth_token": TOKEN,
    }


def test_dh_challenge() -> None:
    """g^a mod p as lower-case hex."""
    prime = signing.parse_dh_prime(FIXED_PRIME_HEX)
    assert signing.dh_challenge(prime, A_RANDOM) == CHALLENGE


def test_signed_bytes_of_the_shared_secret() -> None:
    """K as Java's BigInteger.toByteArray(): a 00 byte in front when the top bit is set."""
    prime = int(FIXED_PRIME_HEX, 16)
    shared = pow(int(RESPONSE, 16), A_RANDOM, prime)
    assert signing.signed_bytes(shared).hex() == K_BYTES
    assert K_BYTES.startswith("00")
    assert signing.signed_bytes(0x7F) == b"\x7f"
    assert signing.signed_bytes(0x80) == b"\x00\x80"
    assert signing.signed_bytes(0) == b"\x00"


def test_live_session_token_and_validation() -> None:
    """LST = base64(HMAC-SHA1(K bytes, prepend bytes)); validated by HMAC-SHA1(LST, key)."""
    prime = int(FIXED_PRIME_HEX, 16)
    lst = signing.live_session_token(prime, A_RANDOM, RESPONSE, SECRET_HEX)
    assert lst == LST
    assert signing.lst_signature(lst, CONSUMER_KEY) == LST_SIGNATURE
    assert signing.validate_live_session_token(lst, LST_SIGNATURE, CONSUMER_KEY)
    assert not signing.validate_live_session_token(lst, LST_SIGNATURE, "ABCDEFGHJ")
    other = signing.live_session_token(prime, A_RANDOM + 1, RESPONSE, SECRET_HEX)
    assert not signing.validate_live_session_token(other, LST_SIGNATURE, CONSUMER_KEY)


def test_base_string_of_the_token_request() -> None:
    """POST&enc(url)&enc(sorted params) with the prepend in front."""
    base = signing.base_string("POST", LST_URL, lst_params())
    assert base == LST_BASE
    assert signing.base_string("post", LST_URL, lst_params(), prepend=SECRET_HEX) == (
        SECRET_HEX + LST_BASE
    )


def test_rsa_sha256_signature() -> None:
    """PKCS#1 v1.5 RSA-SHA256 over prepend + base string, base64."""
    base = SECRET_HEX + LST_BASE
    assert signing.rsa_sha256_signature(base, key("signature_key.pem")) == RSA_SIGNATURE


def test_base_string_with_query_and_hmac_signature() -> None:
    """Query parameters are signed with the OAuth ones; HMAC-SHA256 keyed by the LST."""
    params = {
        "oauth_consumer_key": CONSUMER_KEY,
        "oauth_nonce": NONCE,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": TIMESTAMP,
        "oauth_token": TOKEN,
    }
    query = {"conids": "265598,8314", "fields": "31,84"}
    base = signing.base_string("GET", GET_URL, {**params, **query})
    assert base == GET_BASE
    # a query left in the URL is the same as passing it as parameters
    assert signing.base_string("GET", GET_URL + "?conids=265598%2C8314&fields=31,84", params) == (
        GET_BASE
    )
    assert signing.hmac_sha256_signature(GET_BASE, LST) == HMAC_SIGNATURE


def test_decrypt_access_token_secret() -> None:
    """The prepend is the hex of the secret decrypted with the private encryption key."""
    prepend = signing.decrypt_access_token_secret(ENCRYPTED_SECRET, key("encryption_key.pem"))
    assert prepend == SECRET_HEX


def test_authorization_header_round_trip() -> None:
    """Sorted, quoted, realm first; the signature URL-encoded and decoded back."""
    params = {**lst_params(), "oauth_signature": RSA_SIGNATURE}
    header = signing.authorization_header("limited_poa", params)
    assert header.startswith('OAuth realm="limited_poa", diffie_hellman_challenge="')
    assert "+" not in header.split("oauth_signature=")[1].split('"')[1]
    assert signing.parse_authorization_header(header) == {**params, "realm": "limited_poa"}
    assert base64.b64decode(signing.parse_authorization_header(header)["oauth_signature"])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("xyz", "not a hexadecimal number"),
        ("ff" * 64, "512 bits"),
        (format(int(FIXED_PRIME_HEX, 16) + 2, "x"), "not a prime"),
        ("-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----", "PEM"),
    ],
)
def test_bad_prime(text: str, match: str) -> None:
    """A malformed, short or composite prime fails before any request."""
    with pytest.raises(OAuthConfigError, match=match):
        signing.parse_dh_prime(text)


def test_prime_formats() -> None:
    """Hex with 0x, whitespace and colons (openssl -text), and a PEM block, all parse."""
    prime = int(FIXED_PRIME_HEX, 16)
    spaced = ":".join(FIXED_PRIME_HEX[i : i + 2] for i in range(0, len(FIXED_PRIME_HEX), 2))
    assert signing.parse_dh_prime("0x" + FIXED_PRIME_HEX) == prime
    assert signing.parse_dh_prime(" 00:" + spaced + "\n") == prime
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dh

    from ibstream.sim.oauth import RFC3526_PRIME_2048  # a safe prime: valid PEM DH parameters

    pem = (
        dh.DHParameterNumbers(RFC3526_PRIME_2048, 2)
        .parameters()
        .parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    )
    assert signing.parse_dh_prime(pem) == RFC3526_PRIME_2048


def test_bad_keys() -> None:
    """Not a key, a public key, an EC key: one clear error each, no key material shown."""
    with pytest.raises(OAuthConfigError, match="not a PEM private key"):
        signing.load_private_key(b"garbage", "signature key file")
    public = key("signature_key.pem").public_key()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(OAuthConfigError, match="not a PEM private key"):
        signing.load_private_key(pub_pem, "signature key file")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(OAuthConfigError, match="not an RSA private key"):
        signing.load_private_key(ec_pem, "encryption key file")
