"""The signature scheme: what the README tells receivers to check."""

from __future__ import annotations

import hashlib
import hmac

from migrations_app.webhooks import signing

SECRET = "whsec_test-secret-0123456789"
BODY = b'{"event":"run.status","status":"running"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = signing.sign(SECRET, BODY, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_it_verifies_a_fresh_signature_and_refuses_a_wrong_secret_or_body() -> None:
    header = signing.sign(SECRET, BODY)
    assert signing.verify(SECRET, BODY, header)
    assert not signing.verify("whsec_another-secret-000000", BODY, header)
    assert not signing.verify(SECRET, BODY + b" ", header)


def test_it_refuses_an_old_timestamp_a_replay() -> None:
    header = signing.sign(SECRET, BODY, timestamp=1_700_000_000)
    assert signing.verify(SECRET, BODY, header, now=1_700_000_000 + 299)
    assert not signing.verify(SECRET, BODY, header, now=1_700_000_000 + 301)


def test_it_refuses_malformed_headers() -> None:
    for header in ("", "t=abc,v1=00", "v1=00", "t=1700000000", "garbage"):
        assert not signing.verify(SECRET, BODY, header, now=1_700_000_000)


def test_the_readme_snippet_verifies_what_the_server_signs() -> None:
    namespace: dict[str, object] = {}
    exec(_readme_snippet(), namespace)  # the code users copy
    verify = namespace["verify"]
    header = signing.sign(SECRET, BODY)
    assert verify(BODY, header, SECRET) is True  # type: ignore[operator]
    assert verify(BODY, header, "whsec_wrong") is False  # type: ignore[operator]


def test_generated_secrets_are_long_and_distinct() -> None:
    one, two = signing.generate_secret(), signing.generate_secret()
    assert one != two and one.startswith("whsec_") and len(one) >= 40


def _readme_snippet() -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("```python\n# verify a webhook")
    return text[start + len("```python\n") : text.index("```", start + 10)]
