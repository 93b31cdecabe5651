import Testing

@testable import S3Signing

@Suite("ASCII case-insensitive names")
struct ASCIICaseTests {
    @Test("header and parameter names match a lower-case literal in any ASCII case, and only whole")
    func equality() {
        #expect("Content-Type".equalsLowercaseASCII("content-type"))
        #expect("HOST".equalsLowercaseASCII("host"))
        #expect(!"Hosts".equalsLowercaseASCII("host"))
        #expect(!"hos".equalsLowercaseASCII("host"))
        #expect(!"h0st".equalsLowercaseASCII("host"))
        // Only A–Z fold: `[` | 0x20 is `{`, yet `[` is not an upper-case `{`; non-ASCII never folds.
        #expect(!"[".equalsLowercaseASCII("{"))
        #expect(!"Ho\u{17F}t".equalsLowercaseASCII("host"))  // ſ (long s) is not s
    }

    @Test("prefixes match in any ASCII case, in substrings too, and never past the end")
    func prefixes() {
        #expect("X-Amz-Date".hasLowercaseASCIIPrefix("x-amz-"))
        #expect("x-amz-".hasLowercaseASCIIPrefix("x-amz-"))
        #expect(!"x-amz".hasLowercaseASCIIPrefix("x-amz-"))
        #expect(!"x_amz-date".hasLowercaseASCIIPrefix("x-amz-"))
        let name = "a&X-AMZ-Credential=1".split(separator: "&")[1]
        #expect(name.hasLowercaseASCIIPrefix("x-amz-"))
        #expect("anything".hasLowercaseASCIIPrefix(""))
    }
}
