"""S/MIME ``application/pkcs7-mime`` parts: the signed content inside, or the fact that it
is encrypted.

A message signed "opaquely" (Outlook's default when "send clear-text signed message" is
off, many public bodies' gateways) carries its whole content -- text and attachments --
inside one PKCS #7 / CMS ``SignedData`` structure that only an S/MIME-capable mail program
shows; everywhere else it is an empty mail with ``smime.p7m``. :func:`open_pkcs7` reads the
structure with ``asn1crypto`` (DER, and the BER with indefinite lengths and chunked content
that Outlook and ``openssl cms -stream`` write) and returns the content, which the parser
then reads as the message's own MIME entity. The signature is not verified (that needs
the signer's certificate chain and a trust decision); the parser says so in its notes.
"""

from __future__ import annotations

from typing import Literal

TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
NAMES = (".p7m",)

Opened = tuple[Literal["signed"], bytes] | tuple[Literal["encrypted"], None]


def is_pkcs7(content_type: str, filename: str | None) -> bool:
    return content_type in TYPES or (
        content_type == "application/octet-stream"
        and (filename or "").strip().lower().endswith(NAMES))


def open_pkcs7(data: bytes) -> Opened | None:
    """``("signed", content)`` for SignedData with its content inside, ``("encrypted",
    None)`` for EnvelopedData / AuthEnvelopedData, ``None`` for anything else (a detached
    signature, a certificate bundle, damaged bytes)."""
    from asn1crypto import cms  # only S/MIME mail pays for the import

    try:
        info = cms.ContentInfo.load(data)
        kind = info["content_type"].native
        if kind in ("enveloped_data", "authenticated_enveloped_data"):
            return ("encrypted", None)
        if kind != "signed_data":
            return None
        content = info["content"]["encap_content_info"]["content"].native
    except Exception:
        return None
    if not isinstance(content, bytes) or not content.strip():
        return None  # a detached signature (its content is the multipart/signed around it)
    return ("signed", content)
