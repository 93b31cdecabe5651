"""Authenticating one S3 request: SigV4 header auth, SigV4 presigned query auth, payload modes,
(with an IAM introspection endpoint configured) IBM-style bearer tokens, and POST Object forms signed
by a SigV4 POST policy (postform.py; their credentials are in the body, so the body comes first).

The order of checks follows S3: algorithm and shape, access key, clock (skew / expiry), signature,
then the payload (hash, chunk signatures, trailer checksum, decoded length). A bearer request has no
signature: the token must be current, then the same payload rules apply, except that aws-chunked
framing is refused (nothing signs its chunks, so the framing itself would be stored).
"""
from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_tz, mktime_tz

from . import chunked, postform, sigv4
from .bearer import SCHEME as BEARER_SCHEME, BearerIntrospection
from .errors import S3Refusal, access_denied, signature_mismatch

MAX_SKEW_SECONDS = 15 * 60
_CHUNK_FRAMING = re.compile(rb"^[0-9a-fA-F]{1,16}(;chunk-signature=[0-9a-f]{64})?\r\n")


def _looks_like_aws_chunked(body: bytes) -> bool:
    """aws-chunked framing arriving as plain data: a chunk header first and the final CRLF CRLF last."""
    return bool(_CHUNK_FRAMING.match(body[:120])) and body.endswith(b"\r\n\r\n")
MAX_PRESIGN_EXPIRY = 604800


@dataclass
class RawRequest:
    """A request as received: raw target bytes and raw header values (repeated ones joined by `,`)."""

    method: str
    raw_path: bytes
    raw_query: bytes
    headers: dict[str, bytes]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


@dataclass
class Verdict:
    """What authentication established about a request."""

    auth: str  # "header-v4" | "presigned-v4" | "bearer" | "form-v4"
    access_key: str | None  # None for a bearer token
    signed_headers: list[str]
    payload_mode: str  # hex | UNSIGNED-PAYLOAD | STREAMING-* | form
    body: bytes = b""  # the decoded body to hand to the backend
    trailers: dict[str, str] = field(default_factory=dict)
    chunk_count: int = 0
    checksums_verified: list[str] = field(default_factory=list)
    payload_hash: str = ""  # the x-amz-content-sha256 value the signature covered
    signing: chunked.SigningContext | None = None  # seed for chunk signatures (header auth only)
    api_key_id: str | None = None  # bearer: which IAM api key the token was issued for (its id, not the key)
    form: postform.FormVerdict | None = None  # form-v4: the verified form and policy


@dataclass
class _Credential:
    access_key: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def _parse_credential(text: str, malformed_code: str, status: int) -> _Credential:
    parts = text.split("/")
    if len(parts) != 5:
        raise S3Refusal(status, malformed_code, f"The credential {text!r} is malformed; expecting "
                        "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    return _Credential(*parts)


def _parse_amz_date(text: str) -> float:
    try:
        return calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise access_denied(f"Invalid date {text!r}: expecting ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.") from None


class Verifier:
    """Checks requests against a set of (access key → secret) credentials for one region, and bearer
    tokens against an IAM endpoint when `bearer` is given (without it, bearer tokens are refused)."""

    def __init__(self, credentials: dict[str, str], region: str, clock=time.time,
                 bearer: BearerIntrospection | None = None) -> None:
        self.credentials = credentials
        self.region = region
        self.clock = clock
        self.bearer = bearer

    # -- entry point --------------------------------------------------------------------------------

    def authenticate(self, request: RawRequest) -> Verdict:
        """Verify the signature over the head; the caller reads the body afterwards with `verify_payload`."""
        authorization = request.header("authorization")
        pairs = sigv4.query_pairs(request.raw_query)
        query_names = {name for name, _ in pairs}
        if authorization is not None:
            if authorization.startswith("AWS "):
                raise self._sigv2_refusal()
            if self.bearer is not None and authorization.startswith(BEARER_SCHEME):
                if b"X-Amz-Signature" in query_names or b"X-Amz-Algorithm" in query_names:
                    raise self._two_mechanisms_refusal()
                return self._bearer_auth(request, authorization[len(BEARER_SCHEME):].strip())
            if not authorization.startswith(sigv4.ALGORITHM + " "):
                raise S3Refusal(400, "InvalidArgument", "Unsupported Authorization Type",
                                ArgumentName="Authorization", ArgumentValue=authorization.split(" ")[0])
            if b"X-Amz-Signature" in query_names or b"X-Amz-Algorithm" in query_names:
                raise self._two_mechanisms_refusal()
            return self._header_auth(request, authorization, pairs)
        if b"X-Amz-Algorithm" in query_names or b"X-Amz-Signature" in query_names or b"X-Amz-Credential" in query_names:
            return self._presigned_auth(request, pairs)
        if b"Signature" in query_names and b"AWSAccessKeyId" in query_names:
            raise self._sigv2_refusal()
        raise access_denied("Anonymous access is not allowed on this backend.")

    def authenticate_form(self, request: RawRequest, bucket: str) -> Verdict:
        """A POST Object form (`postform.form_bucket` said so), its whole body already in `request.body`:
        the policy's signature, expiration and conditions. The body goes to moto unchanged."""
        result = postform.verify(request.body, request.header("content-type") or "", bucket,
                                 self.credentials, self.region, self.clock())
        return Verdict("form-v4", result.access_key, [], "form", body=request.body, form=result)

    @staticmethod
    def _two_mechanisms_refusal() -> S3Refusal:
        return S3Refusal(400, "InvalidArgument", "Only one auth mechanism allowed; only the "
                         "X-Amz-Algorithm query parameter, Signature query string parameter or "
                         "the Authorization header should be specified")

    @staticmethod
    def _sigv2_refusal() -> S3Refusal:
        return S3Refusal(400, "InvalidRequest", "The authorization mechanism you have provided is not "
                         "supported. Please use AWS4-HMAC-SHA256.")

    def _secret(self, access_key: str) -> str:
        secret = self.credentials.get(access_key)
        if secret is None:
            raise S3Refusal(403, "InvalidAccessKeyId",
                            "The AWS Access Key Id you provided does not exist in our records.",
                            AWSAccessKeyId=access_key)
        return secret

    def _check_scope(self, cred: _Credential, amz_date: str, code: str, status: int) -> None:
        if cred.date != amz_date[:8]:
            raise S3Refusal(status, code, f"Invalid credential date {cred.date!r}. "
                            f"Date is not the same as X-Amz-Date {amz_date[:8]!r}.")
        if cred.region != self.region:
            raise S3Refusal(status, code, f"The authorization header is malformed; the region "
                            f"'{cred.region}' is wrong; expecting '{self.region}'", Region=self.region)
        if cred.service != "s3":
            raise S3Refusal(status, code, f"Invalid service {cred.service!r}; expecting 's3'.")
        if cred.terminator != "aws4_request":
            raise S3Refusal(status, code, "Credential should be scoped with a valid terminator: 'aws4_request'.")

    # -- header auth --------------------------------------------------------------------------------

    def _header_auth(self, request: RawRequest, authorization: str, pairs) -> Verdict:
        fields: dict[str, str] = {}
        for component in authorization[len(sigv4.ALGORITHM) + 1:].split(","):
            name, sep, value = component.strip().partition("=")
            if not sep:
                raise S3Refusal(400, "AuthorizationHeaderMalformed",
                                f"The authorization header is malformed; component {component!r}.")
            fields[name] = value
        missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
        if missing:
            raise S3Refusal(400, "AuthorizationHeaderMalformed",
                            f"The authorization header is malformed; missing {', '.join(missing)}.")
        cred = _parse_credential(fields["Credential"], "AuthorizationHeaderMalformed", 400)
        secret = self._secret(cred.access_key)

        amz_date = request.header("x-amz-date")
        if amz_date is None:
            date_header = request.header("date")
            parsed = parsedate_tz(date_header) if date_header else None
            if parsed is None:
                raise access_denied("AWS authentication requires a valid Date or x-amz-date header")
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(mktime_tz(parsed)))
        moment = _parse_amz_date(amz_date)
        now = self.clock()
        if abs(now - moment) > MAX_SKEW_SECONDS:
            raise S3Refusal(403, "RequestTimeTooSkewed",
                            "The difference between the request time and the current time is too large.",
                            RequestTime=amz_date, ServerTime=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)),
                            MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000))
        self._check_scope(cred, amz_date, "AuthorizationHeaderMalformed", 400)

        signed_headers = fields["SignedHeaders"].split(";")
        if "host" not in signed_headers:
            raise signature_mismatch("The host header must be signed.")
        unsigned_amz = sorted(name for name in request.headers
                              if name.startswith("x-amz-") and name not in signed_headers)
        if unsigned_amz:
            raise access_denied("There were headers present in the request which were not signed",
                                HeadersNotSigned=", ".join(unsigned_amz))

        payload_hash = request.header("x-amz-content-sha256")
        if payload_hash is None:
            raise S3Refusal(400, "InvalidRequest",
                            "Missing required header for this request: x-amz-content-sha256")
        if not (payload_hash == sigv4.UNSIGNED_PAYLOAD or payload_hash in sigv4.STREAMING_MODES
                or sigv4.HEX64.match(payload_hash)):
            raise S3Refusal(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                            "STREAMING-* or a valid sha256 value.", ArgumentName="x-amz-content-sha256",
                            ArgumentValue=payload_hash)

        canonical = sigv4.canonical_request(request.method, request.raw_path, pairs, request.headers,
                                            signed_headers, payload_hash)
        string_to_sign = sigv4.string_to_sign(amz_date, cred.scope, canonical)
        key = sigv4.signing_key(secret, cred.date, cred.region, cred.service)
        expected = sigv4.sign(key, string_to_sign)
        if not sigv4.same_signature(expected, fields["Signature"]):
            raise signature_mismatch(
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                AWSAccessKeyId=cred.access_key, StringToSign=string_to_sign,
                SignatureProvided=fields["Signature"],
                CanonicalRequest=canonical.decode("latin-1"))
        return Verdict("header-v4", cred.access_key, signed_headers,
                       payload_hash if not sigv4.HEX64.match(payload_hash) else "hex",
                       payload_hash=payload_hash,
                       signing=chunked.SigningContext(key, amz_date, cred.scope, fields["Signature"]))

    # -- bearer token (IBM IAM) ---------------------------------------------------------------------

    def _bearer_auth(self, request: RawRequest, token: str) -> Verdict:
        """Current token or nothing: the IAM endpoint is asked every time (no cache to go stale)."""
        assert self.bearer is not None
        if not token:
            raise access_denied("The bearer token is empty.")
        status = self.bearer.status(token)
        if not status.active:
            raise access_denied("The bearer token is not current (unknown, expired or revoked).")
        payload_hash = request.header("x-amz-content-sha256") or sigv4.UNSIGNED_PAYLOAD
        if not (payload_hash == sigv4.UNSIGNED_PAYLOAD or payload_hash in sigv4.STREAMING_MODES
                or sigv4.HEX64.match(payload_hash)):
            raise S3Refusal(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                            "STREAMING-* or a valid sha256 value.", ArgumentName="x-amz-content-sha256",
                            ArgumentValue=payload_hash)
        return Verdict("bearer", None, [], "hex" if sigv4.HEX64.match(payload_hash) else payload_hash,
                       payload_hash=payload_hash, api_key_id=status.api_key_id)

    @staticmethod
    def _refuse_bearer_framing(request: RawRequest, verdict: Verdict) -> None:
        """aws-chunked under a bearer token: no chunk signatures to check and no seed to decode against,
        so S3 would keep the framing as object data. A gateway must send the decoded body instead."""
        signs = []
        if "aws-chunked" in (request.header("content-encoding") or "").lower():
            signs.append("Content-Encoding: aws-chunked")
        if verdict.payload_hash in sigv4.STREAMING_MODES:
            signs.append(f"x-amz-content-sha256: {verdict.payload_hash}")
        if request.header("x-amz-decoded-content-length") is not None:
            signs.append("x-amz-decoded-content-length")
        if signs:
            raise S3Refusal(400, "InvalidRequest", "aws-chunked framing is not accepted with a bearer token "
                            "(it would be stored as object data); send the decoded body.",
                            Framing="; ".join(signs))

    # -- presigned query auth -----------------------------------------------------------------------

    def _presigned_auth(self, request: RawRequest, pairs) -> Verdict:
        params: dict[str, str] = {}
        for name, value in pairs:
            params.setdefault(name.decode("latin-1"), value.decode("utf-8", "replace"))
        required = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                    "X-Amz-SignedHeaders", "X-Amz-Signature"]
        missing = [name for name in required if name not in params]
        if missing:
            raise S3Refusal(400, "AuthorizationQueryParametersError",
                            f"Query-string authentication version 4 requires the {', '.join(required)} "
                            f"parameters (missing {', '.join(missing)}).")
        if params["X-Amz-Algorithm"] != sigv4.ALGORITHM:
            raise S3Refusal(400, "AuthorizationQueryParametersError",
                            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        cred = _parse_credential(params["X-Amz-Credential"], "AuthorizationQueryParametersError", 400)
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise S3Refusal(400, "AuthorizationQueryParametersError",
                            "X-Amz-Expires should be a number") from None
        if expires < 0:
            raise S3Refusal(400, "AuthorizationQueryParametersError",
                            "X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGN_EXPIRY:
            raise S3Refusal(400, "AuthorizationQueryParametersError",
                            "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        secret = self._secret(cred.access_key)
        amz_date = params["X-Amz-Date"]
        moment = _parse_amz_date(amz_date)
        now = self.clock()
        if now > moment + expires:
            raise access_denied("Request has expired", X_Amz_Expires=str(expires),
                                Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment + expires)),
                                ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
        if moment - now > MAX_SKEW_SECONDS:
            raise access_denied("Request is not valid yet")
        self._check_scope(cred, amz_date, "AuthorizationQueryParametersError", 400)

        signed_headers = params["X-Amz-SignedHeaders"].split(";")
        if "host" not in signed_headers:
            raise signature_mismatch("The host header must be signed.")
        payload_hash = sigv4.UNSIGNED_PAYLOAD
        if "x-amz-content-sha256" in signed_headers and request.header("x-amz-content-sha256"):
            payload_hash = request.header("x-amz-content-sha256") or payload_hash
        canonical_pairs = [(n, v) for n, v in pairs if n != b"X-Amz-Signature"]
        canonical = sigv4.canonical_request(request.method, request.raw_path, canonical_pairs,
                                            request.headers, signed_headers, payload_hash)
        string_to_sign = sigv4.string_to_sign(amz_date, cred.scope, canonical)
        key = sigv4.signing_key(secret, cred.date, cred.region, cred.service)
        expected = sigv4.sign(key, string_to_sign)
        if not sigv4.same_signature(expected, params["X-Amz-Signature"]):
            raise signature_mismatch(
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                AWSAccessKeyId=cred.access_key, StringToSign=string_to_sign,
                SignatureProvided=params["X-Amz-Signature"], CanonicalRequest=canonical.decode("latin-1"))
        if payload_hash in sigv4.STREAMING_MODES:
            raise S3Refusal(400, "InvalidRequest", "Streaming payloads are not supported with presigned URLs.")
        return Verdict("presigned-v4", cred.access_key, signed_headers,
                       "hex" if sigv4.HEX64.match(payload_hash) else payload_hash,
                       payload_hash=payload_hash)

    # -- payload ------------------------------------------------------------------------------------

    def verify_payload(self, request: RawRequest, verdict: Verdict) -> None:
        """Check the received body against the payload mode; sets `verdict.body` to the decoded body."""
        mode = verdict.payload_hash
        body = request.body
        if verdict.auth == "bearer":
            self._refuse_bearer_framing(request, verdict)
        if mode in sigv4.STREAMING_MODES:
            decoded_length_text = request.header("x-amz-decoded-content-length")
            if decoded_length_text is None:
                raise S3Refusal(411, "MissingContentLength",
                                "You must provide the x-amz-decoded-content-length header for aws-chunked uploads.")
            try:
                decoded_length = int(decoded_length_text)
            except ValueError:
                raise S3Refusal(400, "InvalidArgument", "x-amz-decoded-content-length is not a number") from None
            trailer_names = [name.strip().lower() for name in (request.header("x-amz-trailer") or "").split(",")
                             if name.strip()]
            expects_trailer = mode != sigv4.STREAMING_SIGNED
            if expects_trailer and not trailer_names:
                raise S3Refusal(400, "InvalidRequest", f"{mode} requires the x-amz-trailer header.")
            signing = None if mode == sigv4.STREAMING_UNSIGNED_TRAILER else verdict.signing
            decoded = chunked.decode(body, signing, expect_trailer=expects_trailer)
            if len(decoded.data) != decoded_length:
                raise S3Refusal(400, "IncompleteBody",
                                f"The decoded body has {len(decoded.data)} bytes but "
                                f"x-amz-decoded-content-length says {decoded_length}.")
            if sorted(decoded.trailers) != sorted(trailer_names):
                raise S3Refusal(400, "MalformedTrailerError",
                                f"The trailer {sorted(decoded.trailers)} does not match x-amz-trailer {trailer_names}.")
            for name, value in decoded.trailers.items():
                if name.startswith("x-amz-checksum-"):
                    if chunked.verify_checksum(name, value, decoded.data):
                        verdict.checksums_verified.append(name)
            verdict.body = decoded.data
            verdict.trailers = decoded.trailers
            verdict.chunk_count = decoded.chunk_count
        else:
            if request.header("content-encoding") and "aws-chunked" in request.header("content-encoding").lower():  # type: ignore[union-attr]
                raise S3Refusal(400, "InvalidArgument",
                                "Content-Encoding aws-chunked requires a STREAMING-* x-amz-content-sha256.")
            if _looks_like_aws_chunked(body):
                raise S3Refusal(400, "InvalidRequest",
                                "The body is aws-chunked framing sent under a non-streaming payload hash: "
                                "it would be stored as object data.", PayloadMode=mode)
            if mode != sigv4.UNSIGNED_PAYLOAD and sigv4.sha256_hex(body) != mode:
                raise S3Refusal(400, "XAmzContentSHA256Mismatch",
                                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                                ClientComputedContentSHA256=mode,
                                S3ComputedContentSHA256=sigv4.sha256_hex(body))
            verdict.body = body
        self._verify_checksum_headers(request, verdict)

    @staticmethod
    def _verify_checksum_headers(request: RawRequest, verdict: Verdict) -> None:
        import base64
        import hashlib

        md5 = request.header("content-md5")
        if md5 is not None and base64.b64encode(hashlib.md5(verdict.body).digest()).decode() != md5.strip():
            raise S3Refusal(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        is_complete_upload = request.method == "POST" and b"uploadId" in request.raw_query
        if request.method != "PUT" and not (request.method == "POST" and not is_complete_upload):
            return
        if request.header("x-amz-copy-source"):
            return
        for name in request.headers:
            if name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-algorithm", "x-amz-checksum-type"):
                value = request.header(name) or ""
                if chunked.verify_checksum(name, value.strip(), verdict.body):
                    verdict.checksums_verified.append(name)
