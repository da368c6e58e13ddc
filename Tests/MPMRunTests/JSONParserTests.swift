import Foundation
import Testing

@testable import MPMRun

@Suite("JSON parser")
struct JSONParserTests {
    @Test("parses what JSONDecoder parses, to the same values; a number with a fraction or exponent stays a double")
    func agreesWithJSONDecoder() throws {
        let documents = [
            #"{"a":1,"b":-2.5e-3,"c":"x\"y\\z\/\n\u00e9\ud83d\ude00","d":[true,false,null,{}],"e":{"f":[]}}"#,
            #"  [ 1 , 2.5 , -0 , 1.5E-2, "" ]  "#,
            #"9223372036854775807"#, #"9223372036854775808"#, #""plain""#, "{\"k\":\"caf\u{e9}\"}",
        ]
        for d in documents {
            let expected = try JSONDecoder().decode(JSONValue.self, from: Data(d.utf8))
            #expect(JSONValue(parsing: Array(d.utf8)) == expected, "\(d)")
        }
        // JSONDecoder turns 2.0 into an Int; a record written with 2.0 reads back as written.
        #expect(JSONValue(parsing: Array("[2.0,1e2,-0.0]".utf8)) == [.double(2), .double(100), .double(-0.0)])
    }

    @Test("rejects what is not exactly one JSON value")
    func strict() {
        let bad = [#"{"a":1,}"#, #"[1,]"#, #"{"a" 1}"#, #"{'a':1}"#, "{\"a\":\"\n\"}", #"01"#, #"1."#, #".5"#, #"+1"#,
                   #"{"a":1} x"#, #"{"a":1}{}"#, #""\x""#, #""\ud800""#, #""\udc00x""#, #"tru"#, #"nul"#, "", " ",
                   String(repeating: "[", count: 600) + String(repeating: "]", count: 600)]
        for d in bad where JSONValue(parsing: Array(d.utf8)) != nil {
            Issue.record("parsed: \(d.prefix(20))")
        }
        #expect(JSONValue(parsing: [0x22, 0xFF, 0x22]) == nil)  // not UTF-8
    }
}
