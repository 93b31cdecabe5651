import S3Signing
import Testing

@testable import OSPCore

@Suite("DeleteObjects body")
struct DeleteObjectsRequestTests {
    func parse(_ xml: String) throws(S3Error) -> [DeleteObjectsRequest.Object] {
        try DeleteObjectsRequest(xml: Array(xml.utf8)).objects
    }

    @Test("keys and version ids are read, entities resolved")
    func keys() throws {
        let objects = try parse("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
              <Object><Key>team/a.txt</Key></Object>
              <Object><Key>team/&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#233;&#x65E5;</Key><VersionId>v1</VersionId></Object>
            </Delete>
            """)
        #expect(objects == [
            .init(key: "team/a.txt", versionId: nil),
            .init(key: "team/<b> & \"c\" 'd' é日", versionId: "v1"),
        ])
    }

    @Test(
        "what cannot be read with certainty is MalformedXML",
        arguments: [
            "<Delete></Delete>",
            "<Delete><Object><Key>a</Key></Delete>",
            "<Delete><Object><Key>a</Object></Delete>",
            "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Delete><Object><Key>&x;</Key></Object></Delete>",
            "<Delete><Object><Key>&unknown;</Key></Object></Delete>",
            "<Delete><Object><Key>a<b</Key></Object></Delete>",
            "<Object><Key>no delete root</Key></Object>",
        ]
    )
    func malformed(xml: String) {
        #expect(throws: S3Error.self) { try parse(xml) }
    }

    @Test("more than 1000 objects is refused")
    func tooMany() {
        let xml = "<Delete>" + String(repeating: "<Object><Key>k</Key></Object>", count: 1001) + "</Delete>"
        #expect(throws: S3Error.self) { try parse(xml) }
        let ok = "<Delete>" + String(repeating: "<Object><Key>k</Key></Object>", count: 1000) + "</Delete>"
        #expect((try? parse(ok))?.count == 1000)
    }
}
