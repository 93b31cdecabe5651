import Testing

@testable import S3Signing

@Suite("Query parameters")
struct QueryParametersTests {
    @Test("names match however they are percent-encoded; values are decoded with + kept as a plus")
    func lookups() {
        let query = QueryParameters(rawQuery: "X-Amz-Signatur%65=ab%2Bc&plain=a+b%20c&flag&empty=&X-Amz-Signature=second")
        #expect(query["X-Amz-Signature"] == "ab+c")  // the first one wins
        #expect(query["plain"] == "a+b c")
        #expect(query["flag"] == "")
        #expect(query["empty"] == "")
        #expect(query["missing"] == nil)
        #expect(query.contains("flag"))
        #expect(!query.contains("Flag"))  // names are case-sensitive
        #expect(!query.contains("X-Amz-Signatur"))  // a prefix is not the name
    }

    @Test("a % without two hex digits is a literal %, and empty parameters are skipped")
    func leniency() {
        let query = QueryParameters(rawQuery: "&&a%=1%zz&b%4=%&&")
        #expect(query["a%"] == "1%zz")
        #expect(query["b%4"] == "%")
        #expect(query.pairs.map(\.name) == ["a%", "b%4"])
        #expect(query.pairs.map(\.hasEquals) == [true, true])
        #expect(QueryParameters(rawQuery: "uploads").pairs.map(\.hasEquals) == [false])
        #expect(QueryParameters(rawQuery: "").pairs.isEmpty)
    }
}
