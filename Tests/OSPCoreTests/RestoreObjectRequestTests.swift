import S3Signing
import Testing

@testable import OSPCore

@Suite("RestoreObject body")
struct RestoreObjectRequestTests {
    func read(_ xml: String) throws(S3Error) -> RestoreObjectRequest {
        try RestoreObjectRequest(xml: Array(xml.utf8))
    }

    @Test("a plain restore, as boto3 and the aws cli write it, is read")
    func plainRestore() throws {
        let request = try read("""
            <?xml version="1.0" encoding="UTF-8"?>
            <RestoreRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Days>2</Days>
              <GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters>
              <Description>monthly &amp; audit</Description>
            </RestoreRequest>
            """)
        #expect(request.days == "2")
        #expect(request.tier == "Bulk")
        #expect(try read("<RestoreRequest><Days>1</Days></RestoreRequest>").tier == nil)
    }

    @Test("an empty body asks for nothing and is left to the backend", arguments: ["", " \r\n"])
    func emptyBody(_ xml: String) throws {
        let request = try read(xml)
        #expect(request.days == nil && request.tier == nil)
    }

    @Test(
        "a SELECT restore, whose output is written to a location osp cannot authorize, is NotImplemented",
        arguments: [
            "<RestoreRequest><Type>SELECT</Type></RestoreRequest>",
            "<RestoreRequest><Days>1</Days><SelectParameters><Expression>select *</Expression></SelectParameters></RestoreRequest>",
            """
            <RestoreRequest><Tier>Standard</Tier><OutputLocation><S3><BucketName>elsewhere</BucketName>\
            <Prefix>out/</Prefix></S3></OutputLocation></RestoreRequest>
            """,
        ])
    func selectRestore(_ xml: String) {
        #expect(throws: RestoreObjectRequest.selectRestore) { try read(xml) }
    }

    @Test(
        "a body another parser could read as a SELECT restore, or that is no restore request, is MalformedXML",
        arguments: [
            // a prefixed element, a comment or CDATA hiding one, an attribute
            "<RestoreRequest><s3:OutputLocation xmlns:s3=\"u\"><S3/></s3:OutputLocation></RestoreRequest>",
            "<RestoreRequest><Days>1</Days><!-- <Type>SELECT</Type> --></RestoreRequest>",
            "<RestoreRequest><Description><![CDATA[x]]></Description></RestoreRequest>",
            "<RestoreRequest><Days unit=\"d\">1</Days></RestoreRequest>",
            // an element twice, an unknown one, another root, trailing content
            "<RestoreRequest><Days>1</Days><Days>30</Days></RestoreRequest>",
            "<RestoreRequest><Days>1</Days><Extra>1</Extra></RestoreRequest>",
            "<RestoreRequest><GlacierJobParameters><Tier>Bulk</Tier><Tier>Expedited</Tier></GlacierJobParameters></RestoreRequest>",
            "<Restore><Days>1</Days></Restore>",
            "<RestoreRequest><Days>1</Days></RestoreRequest><RestoreRequest/>",
            "<RestoreRequest><Days>1</Days>",
        ])
    func malformed(_ xml: String) throws {
        let error = try #require(throws: S3Error.self) { try read(xml) }
        #expect(error.code == .malformedXML)
    }

    @Test("a body over 64 KiB is refused unread")
    func tooLarge() throws {
        let description = String(repeating: "x", count: 64 << 10)
        let error = try #require(throws: S3Error.self) {
            try read("<RestoreRequest><Description>\(description)</Description></RestoreRequest>")
        }
        #expect(error == DecisionBody.restoreObject.tooLarge)
    }
}
