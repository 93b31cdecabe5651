"""S3 POST Object (browser form uploads): the multipart form, its SigV4 POST policy and the policy's
conditions, checked as S3 does. Written from the AWS documentation, like sigv4.py (no botocore):
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html

A form is a `POST` to a bucket (`/bucket`, `/bucket/`, or `/` virtual-host style), no query, no
`Authorization` header, `Content-Type: multipart/form-data`. Its fields carry the credential, a
base64 JSON policy and `x-amz-signature` = hex HMAC-SHA256(signing key, the policy's base64 text).
The body is only read here; moto later gets the very same bytes.

Order of checks: form shape → credential fields → access key → signature → policy document →
expiration → conditions → fields not covered by a condition → `content-length-range`.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import json
import os
import re
import time
from dataclasses import dataclass, field
from email.message import Message

from . import sigv4
from .errors import S3Refusal, access_denied, signature_mismatch

#: Fields a policy never has to name (S3's list, SigV4 only; `x-ignore-*` are for the page itself).
EXEMPT_FIELDS = {"policy", "x-amz-signature", "file"}
EXEMPT_PREFIX = "x-ignore-"
SIGV4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "policy", "x-amz-signature")
_ISO8601 = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")
_IP_ADDRESS = re.compile(r"^[0-9.]+$")


def malformed(message: str) -> S3Refusal:
    return S3Refusal(400, "MalformedPOSTRequest",
                     f"The body of your POST request is not well-formed multipart/form-data: {message}")


def invalid_policy(message: str) -> S3Refusal:
    return S3Refusal(400, "InvalidPolicyDocument", f"Invalid Policy: {message}")


def policy_refusal(message: str) -> S3Refusal:
    return access_denied(f"Invalid according to Policy: {message}")


# -- which requests are forms -------------------------------------------------------------------------

def form_bucket(method: str, raw_path: bytes, raw_query: bytes, headers: dict[str, bytes]) -> str | None:
    """The bucket a request posts a form to, or None when it is not a POST Object form."""
    if method != "POST" or raw_query or "authorization" in headers:
        return None
    content_type = headers.get("content-type", b"").decode("latin-1")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        return None
    path = raw_path.decode("latin-1")
    if path == "/":  # virtual-host style: the bucket is the first label of a host name (not an address)
        host = headers.get("host", b"").decode("latin-1")
        if host.startswith("["):
            return None
        host = host.split(":", 1)[0]
        if "." not in host or _IP_ADDRESS.match(host):
            return None
        return host.split(".", 1)[0]
    segments = path.lstrip("/").split("/")
    if len(segments) == 1 or (len(segments) == 2 and segments[1] == ""):
        return segments[0] or None
    return None


# -- multipart/form-data ------------------------------------------------------------------------------

@dataclass
class Part:
    name: str
    filename: str | None
    headers: dict[str, str]
    content: bytes

    @property
    def value(self) -> str:
        return self.content.decode("utf-8", "replace")


def _header_param(header_name: str, header_value: str, param: str) -> str | None:
    message = Message()
    message[header_name] = header_value
    value = message.get_param(param, header=header_name)
    if isinstance(value, tuple):  # RFC 2231 encoded
        value = value[2]
    return value


def boundary_of(content_type: str) -> bytes:
    boundary = _header_param("content-type", content_type, "boundary")
    if not boundary or len(boundary) > 200:
        raise malformed("no usable boundary in Content-Type")
    return boundary.encode("latin-1")


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart/form-data body, in order (RFC 7578 / RFC 2046 framing)."""
    delimiter = b"--" + boundary_of(content_type)
    if body.startswith(delimiter):
        position = len(delimiter)
    else:
        first = body.find(b"\r\n" + delimiter)
        if first < 0:
            raise malformed("the boundary never occurs")
        position = first + 2 + len(delimiter)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", position):
            return parts  # close delimiter; an epilogue after it is ignored
        line_end = body.find(b"\r\n", position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise malformed("a boundary line is not followed by CRLF")
        start = line_end + 2
        if body.startswith(b"\r\n", start):
            head, content_start = b"", start + 2
        else:
            head_end = body.find(b"\r\n\r\n", start)
            if head_end < 0:
                raise malformed("a part's headers never end")
            head, content_start = body[start:head_end], head_end + 4
        end = body.find(b"\r\n" + delimiter, content_start)
        if end < 0:
            raise malformed("the last part is not closed by the boundary")
        parts.append(_part(head, body[content_start:end]))
        position = end + 2 + len(delimiter)


def _part(head: bytes, content: bytes) -> Part:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n"):
        name, separator, value = line.partition(b":")
        if not separator:
            raise malformed(f"part header line {line[:80]!r}")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        headers[name.decode("latin-1").strip().lower()] = text.strip()
    disposition = headers.get("content-disposition")
    if disposition is None or disposition.split(";", 1)[0].strip().lower() != "form-data":
        raise malformed("a part without Content-Disposition: form-data")
    name = _header_param("content-disposition", disposition, "name")
    if name is None:
        raise malformed("a part without a name")
    return Part(name, _header_param("content-disposition", disposition, "filename"), headers, content)


# -- the form -----------------------------------------------------------------------------------------

@dataclass
class Form:
    """The fields before the file (by lowercase name; S3 field names are case-insensitive) and the file."""

    fields: dict[str, str]
    names: dict[str, str]  # lowercase → as sent
    file: Part | None
    after_file: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.fields.get(name.lower())

    @property
    def key(self) -> str | None:
        """The object key, `${filename}` replaced by the file's name (its base name, as moto does)."""
        key = self.get("key")
        if key is None or self.file is None or self.file.filename is None:
            return key
        return key.replace("${filename}", os.path.basename(self.file.filename))


def read_form(body: bytes, content_type: str) -> Form:
    fields: dict[str, str] = {}
    names: dict[str, str] = {}
    file: Part | None = None
    after: list[str] = []
    for part in parse_multipart(body, content_type):
        lower = part.name.lower()
        if file is not None:
            after.append(part.name)
            continue
        if lower in names:
            raise S3Refusal(400, "InvalidArgument", f"The form field {part.name!r} occurs more than once.",
                            ArgumentName=part.name)
        if lower == "file":
            file = part
            continue
        fields[lower] = part.value
        names[lower] = part.name
    return Form(fields, names, file, after)


# -- the verdict --------------------------------------------------------------------------------------

@dataclass
class FormVerdict:
    access_key: str
    form: Form
    policy: dict
    bucket: str

    def journal(self) -> dict:
        """What the journal keeps of the form: field names and (shortened) values, the key, the file's size."""
        return {
            "bucket": self.bucket,
            "fields": {self.form.names[name]: (value if len(value) <= 256 else value[:256] + "…")
                       for name, value in self.form.fields.items()},
            "key": self.form.key,
            "filename": self.form.file.filename if self.form.file else None,
            "file_length": len(self.form.file.content) if self.form.file else None,
            "conditions": self.policy.get("conditions"),
        }


def verify(body: bytes, content_type: str, bucket: str, credentials: dict[str, str], region: str,
           now: float) -> FormVerdict:
    form = read_form(body, content_type)
    if form.after_file:
        # S3 ignores fields after the file; moto would apply them (x-amz-meta-* …), so a gateway that
        # sends any would pass here with objects S3 would not have stored. Refused instead.
        raise S3Refusal(400, "InvalidArgument", "This backend does not accept fields after the file "
                        f"(S3 ignores them, moto would not): {', '.join(form.after_file)}")
    if not any(form.get(name) is not None for name in
               ("policy", "x-amz-signature", "x-amz-credential", "signature", "awsaccesskeyid")):
        raise access_denied("Anonymous access is not allowed on this backend.")
    if form.get("x-amz-signature") is None and (form.get("signature") is not None
                                                or form.get("awsaccesskeyid") is not None):
        raise access_denied("SigV2 POST policies are not accepted by this backend; sign the policy "
                            "with AWS4-HMAC-SHA256.")
    if form.get("key") is None:
        raise S3Refusal(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is "
                        "specified, please check the order of the fields.", ArgumentName="key")
    for name in SIGV4_FIELDS:
        if form.get(name) is None:
            raise S3Refusal(400, "InvalidArgument", f"Bucket POST must contain a field named '{name}'.",
                            ArgumentName=name)
    if form.file is None:
        raise S3Refusal(400, "InvalidArgument", "POST requires exactly one file upload per request.",
                        ArgumentName="file")
    if form.get("x-amz-algorithm") != sigv4.ALGORITHM:
        raise S3Refusal(400, "InvalidArgument", "x-amz-algorithm only supports \"AWS4-HMAC-SHA256\"",
                        ArgumentName="x-amz-algorithm", ArgumentValue=form.get("x-amz-algorithm") or "")

    credential = form.get("x-amz-credential") or ""
    parts = credential.split("/")
    if len(parts) != 5:
        raise S3Refusal(400, "InvalidArgument", f"The credential {credential!r} is malformed; expecting "
                        "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", ArgumentName="x-amz-credential")
    access_key, date, cred_region, service, terminator = parts
    secret = credentials.get(access_key)
    if secret is None:
        raise S3Refusal(403, "InvalidAccessKeyId",
                        "The AWS Access Key Id you provided does not exist in our records.",
                        AWSAccessKeyId=access_key)
    amz_date = form.get("x-amz-date") or ""
    try:
        time.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise S3Refusal(400, "InvalidArgument", f"Invalid x-amz-date {amz_date!r}: expecting "
                        "YYYYMMDD'T'HHMMSS'Z'.", ArgumentName="x-amz-date") from None
    if date != amz_date[:8]:
        raise S3Refusal(400, "InvalidArgument", f"Invalid credential date {date!r}: it is not the date of "
                        f"x-amz-date {amz_date[:8]!r}.", ArgumentName="x-amz-credential")
    if cred_region != region:
        raise S3Refusal(400, "InvalidArgument", f"The credential's region '{cred_region}' is wrong; "
                        f"expecting '{region}'", ArgumentName="x-amz-credential", Region=region)
    if service != "s3" or terminator != "aws4_request":
        raise S3Refusal(400, "InvalidArgument", f"The credential {credential!r} must be scoped to "
                        "s3/aws4_request.", ArgumentName="x-amz-credential")

    policy_text = form.get("policy") or ""
    expected = sigv4.sign(sigv4.signing_key(secret, date, cred_region, service), policy_text)
    provided = form.get("x-amz-signature") or ""
    if not sigv4.same_signature(expected, provided):
        raise signature_mismatch("The request signature we calculated does not match the signature you "
                                 "provided. Check your key and signing method.",
                                 AWSAccessKeyId=access_key, StringToSign=policy_text, SignatureProvided=provided)

    policy = _decode_policy(policy_text)
    _check_expiration(policy, now)
    conditions = policy.get("conditions")
    if not isinstance(conditions, list):
        raise invalid_policy("Policy missing conditions." if conditions is None
                             else "conditions must be an array.")
    covered: set[str] = set()
    ranges: list[tuple[int, int]] = []
    for condition in conditions:
        _check_condition(condition, form, bucket, covered, ranges)
    extra = [form.names[name] for name in form.fields
             if name not in covered and name not in EXEMPT_FIELDS and not name.startswith(EXEMPT_PREFIX)]
    if extra:
        raise policy_refusal(f"Extra input fields: {', '.join(extra)}")
    size = len(form.file.content)
    for low, high in ranges:
        if size > high:
            raise S3Refusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                            ProposedSize=str(size), MaxSizeAllowed=str(high))
        if size < low:
            raise S3Refusal(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                            ProposedSize=str(size), MinSizeAllowed=str(low))
    return FormVerdict(access_key, form, policy, bucket)


def _decode_policy(text: str) -> dict:
    try:
        document = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise invalid_policy("the policy is not base64-encoded JSON.") from None
    if not isinstance(document, dict):
        raise invalid_policy("the policy is not a JSON object.")
    return document


def _check_expiration(policy: dict, now: float) -> None:
    expiration = policy.get("expiration")
    if not isinstance(expiration, str):
        raise invalid_policy("Policy missing expiration.")
    for layout in _ISO8601:
        try:
            moment = calendar.timegm(time.strptime(expiration, layout))
            break
        except ValueError:
            continue
    else:
        raise invalid_policy(f"Invalid 'expiration' value: {expiration!r}")
    if now >= moment:
        raise policy_refusal("Policy expired.")


def _check_condition(condition, form: Form, bucket: str, covered: set[str], ranges: list) -> None:
    if isinstance(condition, dict):
        if not condition:
            raise invalid_policy("an empty condition.")
        for name, value in condition.items():
            _match("eq", name, value, condition, form, bucket, covered)
        return
    if not isinstance(condition, list) or not condition or not isinstance(condition[0], str):
        raise invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
    operator = condition[0].lower()
    if operator == "content-length-range":
        if len(condition) != 3:
            raise invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
        try:
            low, high = int(condition[1]), int(condition[2])
        except (TypeError, ValueError):
            raise invalid_policy(f"Invalid content-length-range: {json.dumps(condition)}") from None
        ranges.append((low, high))
        return
    if operator not in ("eq", "starts-with") or len(condition) != 3:
        raise invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
    name, value = condition[1], condition[2]
    if not isinstance(name, str) or not name.startswith("$"):
        raise invalid_policy(f"Invalid Condition: {json.dumps(condition)} (the field must start with '$')")
    _match(operator, name[1:], value, condition, form, bucket, covered)


def _match(operator: str, name: str, value, condition, form: Form, bucket: str, covered: set[str]) -> None:
    if not isinstance(value, str):
        raise invalid_policy(f"Invalid Condition: {json.dumps(condition)} (the value must be a string)")
    lower = name.lower()
    covered.add(lower)
    actual = bucket if lower == "bucket" else form.get(lower)
    if actual is None:
        ok = False
    elif operator == "eq":
        ok = actual == value
    elif lower == "content-type":  # S3: each of a comma-separated list must match
        ok = all(piece.strip().startswith(value) for piece in actual.split(","))
    else:
        ok = actual.startswith(value)
    if not ok:
        raise policy_refusal(f"Policy Condition failed: {json.dumps(condition)}")
