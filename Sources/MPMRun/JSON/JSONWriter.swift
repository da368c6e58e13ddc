/// The one JSON writer of mpm-run: audit lines, `--json` events, serve's messages.
///
/// Compact (no spaces), object keys sorted (Swift's `String` order), strings with `"`, `\`,
/// every control character (U+0000 to U+001F) and U+2028/U+2029 escaped, so that a value is
/// always exactly one line, whatever an agent put in a path or a detail, also for readers that
/// take U+2028/U+2029 as line breaks. NaN and infinities, which JSON cannot hold, are written
/// as null: writing never fails, so a record is never lost to a value's shape. Integers are
/// written as decimal digits, other numbers as Swift prints a Double (`5.0`, `1e-05`), which
/// `JSONValue(parsing:)` reads back as the same `.double`.
///
/// The audit log's hash chain covers these bytes: a change to how any value is spelled here
/// would make every existing log fail `audit verify`. The tests pin the spelling.
extension JSONValue {
    /// Appends the value's compact JSON to `out`.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            // Swift prints 1e-05 and 5.0: both valid JSON numbers.
            out.append(contentsOf: (d.isFinite ? String(d) : "null").utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (n, v) in a.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            Self.writeObject(o.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, into: &out)
        }
    }

    /// Compact JSON with sorted keys, one line (strings escape their line breaks), as bytes.
    public var compactBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(into: &out)
        return out
    }

    /// Compact JSON with sorted keys, one line (strings escape their line breaks).
    public var compactText: String { String(decoding: compactBytes, as: UTF8.self) }

    /// An object whose members are written in the order given (the audit line's fixed
    /// `seq`, `ts`, ... prefix), not sorted.
    public static func writeObject(_ members: [(String, JSONValue)], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (n, (k, v)) in members.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            writeString(k, into: &out)
            out.append(UInt8(ascii: ":"))
            v.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A JSON string: `"` and `\` escaped, `\n` `\r` `\t` by name, the other control
    /// characters as `\u00xx` (lowercase hex), U+2028 and U+2029 as `\u2028` and `\u2029`;
    /// every other character as its UTF-8 bytes.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { writeEscaped($0, into: &out) }
        out.append(UInt8(ascii: "\""))
    }

    private static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let hexDigits: StaticString = "0123456789abcdef"
        // Bytes that need nothing are copied in runs, not one by one.
        var runStart = 0
        var i = 0
        func flush(_ end: Int) {
            if end > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<end])) }
        }
        while i < bytes.count {
            let b = bytes[i]
            let escape: StaticString?
            var width = 1
            switch b {
            case UInt8(ascii: "\""): escape = #"\""#
            case UInt8(ascii: "\\"): escape = #"\\"#
            case UInt8(ascii: "\n"): escape = #"\n"#
            case UInt8(ascii: "\r"): escape = #"\r"#
            case UInt8(ascii: "\t"): escape = #"\t"#
            case 0..<0x20:
                flush(i)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits.utf8Start[Int(b >> 4)])
                out.append(hexDigits.utf8Start[Int(b & 0xF)])
                i += 1
                runStart = i
                continue
            case 0xE2 where i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                // U+2028 and U+2029: line separators to some readers.
                escape = bytes[i + 2] == 0xA8 ? #"\u2028"# : #"\u2029"#
                width = 3
            default:
                escape = nil
            }
            if let escape {
                flush(i)
                out.append(contentsOf: UnsafeBufferPointer(start: escape.utf8Start, count: escape.utf8CodeUnitCount))
                i += width
                runStart = i
            } else {
                i += 1
            }
        }
        flush(bytes.count)
    }
}
