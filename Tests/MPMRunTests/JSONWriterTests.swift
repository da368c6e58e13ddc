import Foundation
import Testing

@testable import MPMRun

/// Random JSON values from the shared seeded generator: strings full of what needs escaping
/// (control characters, quotes, backslashes, U+2028/U+2029) beside plain and multi-byte text,
/// integers at the edges of Int, doubles from random bit patterns.
private struct ValueGenerator {
    var random: SeededRandom

    static let scalars: [Unicode.Scalar] = [
        "a", "Z", "0", " ", "/", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{8}", "\u{c}", "\u{1b}", "\u{1f}",
        "\u{7f}", "\u{80}", "é", "\u{301}", "\u{2028}", "\u{2029}", "\u{2027}", "\u{202a}", "\u{e280}", "\u{fffd}",
        "\u{ffff}", "😀", "\u{10ffff}", "ß", "中",
    ]

    mutating func string() -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<random.below(12) {
            // Mostly printable ASCII, so that runs of plain bytes sit between escapes.
            if random.chance(50) {
                s.append(Unicode.Scalar(UInt8(0x20 + random.below(0x5F))))
            } else {
                s.append(random.pick(Self.scalars))
            }
        }
        return String(s)
    }

    mutating func double() -> Double {
        if random.chance(30) {
            return random.pick([0.0, -0.0, 0.1, 0.5, 2.0, -1.5, 1e-5, 1e21, 1e300, -1e-300, 5e-324, .greatestFiniteMagnitude,
                                .leastNormalMagnitude, 123456789.125])
        }
        while true {
            let d = Double(bitPattern: random.next())
            if d.isFinite { return d }
        }
    }

    mutating func value(depth: Int = 0) -> JSONValue {
        switch random.below(depth >= 5 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(random.chance(50))
        case 2:
            return .int(random.chance(20) ? random.pick([0, -1, Int.min, Int.max, 9_007_199_254_740_993])
                                          : Int(truncatingIfNeeded: random.next()) >> random.below(64))
        case 3: return .double(double())
        case 4: return .string(string())
        case 5: return .array((0..<random.below(5)).map { _ in value(depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<random.below(5) { o[string()] = value(depth: depth + 1) }
            return .object(o)
        }
    }
}

/// The audit log's writer as it was before JSONWriter.swift (commit 84cb307's
/// AuditRecord.write), kept verbatim as the oracle: every log written since the chain began
/// was spelled by it, and the chain covers the bytes.
private enum LegacyAuditWriter {
    static func writeObject(_ members: [(String, JSONValue)], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (n, (k, v)) in members.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            writeString(k, into: &out)
            out.append(UInt8(ascii: ":"))
            write(v, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite {
                out.append(contentsOf: String(d).utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (n, v) in a.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            writeObject(o.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, into: &out)
        }
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xF)])
            case 0xE2 where i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                out.append(contentsOf: (bytes[i + 2] == 0xA8 ? #"\u2028"# : #"\u2029"#).utf8)
                i += 2
            default:
                out.append(b)
            }
            i += 1
        }
        out.append(UInt8(ascii: "\""))
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("random values round-trip through the writer and the strict parser, on one line")
    func roundTrip() throws {
        var g = ValueGenerator(random: SeededRandom(seed: 0x4A53_4F4E))
        for n in 0..<20_000 {
            let value = g.value()
            let bytes = value.compactBytes
            #expect(!bytes.contains(UInt8(ascii: "\n")) && !bytes.contains { $0 < 0x20 }, "raw control byte in \(value)")
            let parsed = JSONValue(parsing: bytes)
            if parsed != value {
                Issue.record("value \(n) did not round-trip: \(value) -> \(String(decoding: bytes, as: UTF8.self)) -> \(String(describing: parsed))")
                return
            }
            // Foundation reads it as the same document (an independent parser).
            _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        }
    }

    @Test("the bytes are exactly those the audit log has always been written with")
    func sameBytesAsTheAuditLogsWriter() {
        var g = ValueGenerator(random: SeededRandom(seed: 0xA0D1_7106))
        for n in 0..<20_000 {
            let value = g.value()
            var legacy: [UInt8] = []
            LegacyAuditWriter.write(value, into: &legacy)
            if value.compactBytes != legacy {
                Issue.record("value \(n): \(String(decoding: value.compactBytes, as: UTF8.self)) != legacy \(String(decoding: legacy, as: UTF8.self))")
                return
            }
        }
        // A whole audit line, pinned byte for byte: its hash is what the next line's prev holds.
        let event = Event(.incident, runID: "r1", agentID: "a\u{2028}b", [
            "detail": "line\nbreak \"q\" \\ \u{1}\u{7f} é/😀", "n": .double(0.5), "x": .double(.nan), "i": .double(-.infinity),
            "arr": [1, true, nil, .double(2)], "obj": ["b": 1, "a": "\u{2029}"],
        ])
        let line = AuditRecord.make(event, seq: 7, ts: "2026-11-22T03:20:36.123Z", prev: AuditRecord.genesis).line
        let expected = #"{"seq":7,"ts":"2026-11-22T03:20:36.123Z","type":"incident","run_id":"r1","agent_id":"a\u2028b","#
            + #""arr":[1,true,null,2.0],"detail":"line\nbreak \"q\" \\ \u0001"# + "\u{7f} é/😀\","
            + #""i":null,"n":0.5,"obj":{"a":"\u2029","b":1},"x":null,"prev":""# + String(repeating: "0", count: 64) + #""}"#
        #expect(String(decoding: line, as: UTF8.self) == expected)
        #expect(AuditRecord.hash(line) == AuditRecord.hash(Array(expected.utf8)))
    }

    @Test("escapes every control character, quotes, backslashes and U+2028/U+2029, and nothing else")
    func escaping() {
        for b in 0..<0x20 {
            let named: [Int: String] = [0x0A: #"\n"#, 0x0D: #"\r"#, 0x09: #"\t"#]
            let expected = "\"" + (named[b] ?? String(format: "\\u%04x", b)) + "\""
            #expect(JSONValue.string(String(UnicodeScalar(UInt8(b)))).compactText == expected, "U+\(String(b, radix: 16))")
        }
        #expect(JSONValue.string("\"\\").compactText == #""\"\\""#)
        #expect(JSONValue.string("a\u{2028}b\u{2029}c").compactText == #""a\u2028b\u2029c""#)
        // Neighbours of U+2028/U+2029 and everything printable are written as they are.
        let plain = "/\u{7f}\u{2027}\u{202a}é中😀\u{10ffff}"
        #expect(JSONValue.string(plain).compactBytes == Array("\"\(plain)\"".utf8))
        // A string that ends inside what could start U+2028 is not misread.
        #expect(JSONValue.string("x\u{2000}").compactText == "\"x\u{2000}\"")
    }

    @Test("keys are sorted, NaN and infinities are null, and compactText is compactBytes")
    func shapes() {
        let v: JSONValue = ["b": 1, "a": ["z": nil, "y": [.double(.nan), .double(.infinity), .double(-.infinity), .double(1e-5)]], "B": true]
        #expect(v.compactText == #"{"B":true,"a":{"y":[null,null,null,1e-05],"z":null},"b":1}"#)
        #expect(Array(v.compactText.utf8) == v.compactBytes)
        var out = Array("prefix ".utf8)
        v.write(into: &out)
        #expect(out == Array("prefix ".utf8) + v.compactBytes, "write(into:) appends")
        #expect(JSONValue.int(Int.min).compactText == "-9223372036854775808")
        #expect(JSONValue.object([:]).compactText == "{}" && JSONValue.array([]).compactText == "[]")
    }
}
