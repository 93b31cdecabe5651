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

    @Test(
        "XML another parser could read as other keys than osp is refused, before any key is authorized",
        arguments: [
            // a second Key: Go's encoding/xml (MinIO) keeps the last
            "<Delete><Object><Key>ok</Key><Key>secret</Key></Object></Delete>",
            // a prefixed or namespaced Key, which namespace-blind parsers take for the Key
            "<Delete><Object><Key>ok</Key><s3:Key xmlns:s3=\"u\">secret</s3:Key></Object></Delete>",
            "<Delete><Object><Key xmlns=\"u\">secret</Key></Object></Delete>",
            // processing instructions, comments, CDATA anywhere
            "<Delete><Object><?pi <Key>secret</Key> ?><Key>ok</Key></Object></Delete>",
            "<Delete><Object><Key>ok</Key></Object><!-- <Object><Key>secret</Key></Object> --></Delete>",
            "<Delete><Object><Key><![CDATA[secret]]></Key></Object></Delete>",
            // unknown elements and attributes, empty-element tags, text between elements
            "<Delete><Object><Key>ok</Key></Object><Other><Object><Key>secret</Key></Object></Other></Delete>",
            "<Delete><Object id=\"1\"><Key>ok</Key></Object></Delete>",
            "<Delete><Object><Key/></Object></Delete>",
            "<Delete><Object><Key>ok</Key></Object>text<Object><Key>x</Key></Object></Delete>",
            "<Delete><Quiet>true</Quiet><Quiet>false</Quiet><Object><Key>ok</Key></Object></Delete>",
            "<Delete><Object><Key>ok</Key><VersionId>1</VersionId><VersionId>2</VersionId></Object></Delete>",
            // mismatched or stray end tags, content after the root, a declaration not at the start
            "<Delete><Object><Key>ok</Key></Delete></Object>",
            "<Delete><Object><Key>ok</Key></Object></Delete><Delete><Object><Key>secret</Key></Object></Delete>",
            " <?xml version=\"1.0\"?><Delete><Object><Key>ok</Key></Object></Delete>",
            // another encoding would decode the same bytes to other keys
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Delete><Object><Key>ok</Key></Object></Delete>",
        ]
    )
    func readDifferentlyElsewhere(xml: String) {
        let error = #expect(throws: S3Error.self) { try parse(xml) }
        #expect(error?.code == .malformedXML)
    }

    @Test("the XML S3's clients write is read however it is laid out: white space in tags, quotes, conditions, a UTF-8 declaration")
    func layouts() throws {
        let objects = try parse("""
            <?xml version='1.0' encoding='utf-8'?>\r
            <Delete   xmlns='http://s3.amazonaws.com/doc/2006-03-01/' >
              <Object >
                <Key >a</Key >
                <ETag>"e"</ETag><LastModifiedTime>2026-01-01T00:00:00Z</LastModifiedTime><Size>3</Size>
              </Object   >
              <Quiet>false</Quiet>
            </Delete >\n
            """)
        #expect(objects == [.init(key: "a", versionId: nil)])
    }

    @Test("line breaks in a key are read as XML parsers read them: CR LF and CR are LF, &#13; stays a CR")
    func lineBreaks() throws {
        let objects = try parse("<Delete><Object><Key>a\r\nb\rc&#13;d</Key></Object></Delete>")
        #expect(objects == [.init(key: "a\nb\nc\rd", versionId: nil)])
    }

    @Test("more than 1000 objects is refused")
    func tooMany() {
        let xml = "<Delete>" + String(repeating: "<Object><Key>k</Key></Object>", count: 1001) + "</Delete>"
        #expect(throws: S3Error.self) { try parse(xml) }
        let ok = "<Delete>" + String(repeating: "<Object><Key>k</Key></Object>", count: 1000) + "</Delete>"
        #expect((try? parse(ok))?.count == 1000)
    }
}
