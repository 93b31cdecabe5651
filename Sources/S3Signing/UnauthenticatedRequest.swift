/// Why a request that carries no credentials osp can verify — no `Authorization` header, no
/// presigned query — is refused.
extension S3Error {
    /// `AccessDenied`, except for a browser form upload (S3's POST Object: `POST` with a
    /// `multipart/form-data` body whose fields hold the access key, a POST policy and its
    /// signature). That request is not anonymous, but its signature is inside the body, over a
    /// policy whose conditions S3 enforces on the form, and osp verifies neither: it answers
    /// `NotImplemented`, so the uploader learns what to use instead rather than that it sent no
    /// credentials. Either way nothing reaches a backend.
    public static func unauthenticated(_ request: IncomingRequest) -> S3Error {
        if request.isFormUpload {
            return S3Error(
                .notImplemented,
                "Browser form uploads (POST Object with a POST policy) are not supported; upload with a presigned PUT URL instead."
            )
        }
        return S3Error(.accessDenied, "Anonymous access is not allowed")
    }
}

extension IncomingRequest {
    /// A `POST` whose body is an HTML form (`Content-Type: multipart/form-data; boundary=…`), the
    /// shape of S3's POST Object upload.
    var isFormUpload: Bool {
        guard self.method == "POST", let contentType = self.headers.first(name: "content-type") else { return false }
        return contentType.hasLowercaseASCIIPrefix("multipart/form-data")
    }
}
