#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import Glibc

/// One audit record and its line: the only place that decides what a record holds and how
/// it is spelled on disk.
///
/// The line is written by hand rather than by JSONEncoder so that its key order is fixed for
/// people reading the file (`seq`, `ts`, `type`, `run_id`, `agent_id`, the event's fields
/// sorted, `prev` last) and so that encoding cannot fail (JSONEncoder refuses a NaN, and a
/// record must never be lost to a value's shape: NaN and infinities are written as null).
/// The fixed prefix `{"seq":N,"ts":"..."` also lets the tail queries read a record's time
/// without parsing the rest of its line.
enum AuditRecord {
    static let redacted = "***REDACTED***"
    /// 64 zeros: the `prev` of the first record of a log.
    static let genesis = String(repeating: "0", count: 64)
    /// The keys every record has; an event field with one of these names is kept as
    /// `field_<name>` instead, so it can neither forge nor hide them.
    static let reserved: Set<String> = ["seq", "ts", "type", "run_id", "agent_id", "prev"]
    static let sensitiveWords = ["password", "token", "key", "secret", "credential"]

    /// Whether a key's value must never reach the log (any case, anywhere in the key).
    static func isSensitive(_ key: String) -> Bool {
        let lower = key.lowercased()
        return sensitiveWords.contains { lower.contains($0) }
    }

    /// `value` with every sensitive key's value replaced, at any depth of objects (also
    /// objects inside arrays), and NaN and infinities (which JSON cannot hold) as null: the
    /// record returned is exactly the one written.
    static func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .double(let d) where !d.isFinite:
            return .null
        case .object(let o):
            var out: [String: JSONValue] = [:]
            out.reserveCapacity(o.count)
            for (k, v) in o { out[k] = isSensitive(k) ? .string(redacted) : redact(v) }
            return .object(out)
        case .array(let a):
            return .array(a.map(redact))
        default:
            return value
        }
    }

    /// The record for `event` and its line (without the newline).
    static func make(_ event: Event, seq: Int, ts: String, prev: String) -> (record: [String: JSONValue], line: [UInt8]) {
        var fields: [(String, JSONValue)] = []
        fields.reserveCapacity(event.fields.count)
        for (k, v) in event.fields {
            let key = reserved.contains(k) ? "field_" + k : k
            fields.append((key, isSensitive(key) ? .string(redacted) : redact(v)))
        }
        fields.sort { $0.0 < $1.0 }
        let head: [(String, JSONValue)] = [
            ("seq", .int(seq)), ("ts", .string(ts)), ("type", .string(event.kind.rawValue)),
            ("run_id", event.runID.map(JSONValue.string) ?? .null),
            ("agent_id", event.agentID.map(JSONValue.string) ?? .null),
        ]
        let all = head + fields + [("prev", .string(prev))]
        var line: [UInt8] = []
        line.reserveCapacity(256)
        writeObject(all, into: &line)
        var record: [String: JSONValue] = [:]
        for (k, v) in all { record[k] = v }
        return (record, line)
    }

    /// Lowercase hex SHA-256 of a line's bytes (without its newline).
    static func hash(_ line: ArraySlice<UInt8>) -> String {
        var hasher = SHA256()
        line.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { d in
            let digits: StaticString = "0123456789abcdef"
            return String(unsafeUninitializedCapacity: d.count * 2) { out in
                for (i, b) in d.enumerated() {
                    out[2 * i] = digits.utf8Start[Int(b >> 4)]
                    out[2 * i + 1] = digits.utf8Start[Int(b & 0x0F)]
                }
                return d.count * 2
            }
        }
    }

    static func hash(_ line: [UInt8]) -> String { hash(line[...]) }

    // MARK: reading a line

    /// The line as a JSON object, or nil when it is not one.
    static func parse(_ line: some Collection<UInt8>) -> [String: JSONValue]? {
        guard let first = line.first, first == UInt8(ascii: "{"),
              case .object(let o)? = JSONValue(parsing: line)
        else { return nil }
        return o
    }

    /// `seq` read from the fixed prefix `{"seq":N,` without parsing the line; nil when the
    /// line does not start that way (the caller then parses it).
    static func quickSeq(_ line: ArraySlice<UInt8>) -> Int? {
        let prefix = Array(#"{"seq":"#.utf8)
        guard line.count > prefix.count, line.starts(with: prefix) else { return nil }
        var v = 0, i = line.startIndex + prefix.count, any = false
        while i < line.endIndex, line[i] >= 0x30, line[i] <= 0x39, v < Int.max / 10 - 9 {
            v = v * 10 + Int(line[i] - 0x30)
            i += 1
            any = true
        }
        guard any, i < line.endIndex, line[i] == UInt8(ascii: ",") else { return nil }
        return v
    }

    /// `ts` read from the fixed prefix `{"seq":N,"ts":"…"` without parsing the line.
    static func quickTime(_ line: ArraySlice<UInt8>) -> Date? {
        let key = Array(#","ts":""#.utf8)
        // The key follows seq's digits, within the first few dozen bytes.
        let window = line.prefix(40)
        guard let at = firstRange(of: key, in: window) else { return nil }
        let start = at + key.count
        guard let end = line[start...].prefix(40).firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return AuditTime.parse(bytes: line[start..<end])
    }

    /// Where `needle` starts in `hay`, as an index of `hay` (memchr and memcmp: this runs on
    /// every line a query skips).
    static func firstRange(of needle: [UInt8], in hay: ArraySlice<UInt8>) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        return hay.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { n -> Int? in
                guard let base = h.baseAddress, let nb = n.baseAddress else { return nil }
                var at = 0
                let last = h.count - n.count
                while at <= last {
                    guard let hit = memchr(base + at, Int32(nb.pointee), last - at + 1) else { return nil }
                    let offset = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + offset, nb, n.count) == 0 { return hay.startIndex + offset }
                    at = offset + 1
                }
                return nil
            }
        }
    }

    // MARK: writing JSON

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
                // Swift prints 1e-05 and 5.0: both valid JSON numbers.
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

    /// A JSON string; control characters and U+2028/U+2029 are escaped, so a record is always
    /// exactly one line whatever an agent put in a path or a detail.
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
                // U+2028 and U+2029: line separators to some readers.
                out.append(contentsOf: (bytes[i + 2] == 0xA8 ? #"\u2028"# : #"\u2029"#).utf8)
                i += 2
            default:
                out.append(b)
            }
            i += 1
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `"agent_id":"<id>"` as the writer spells it: every record of that agent contains these
    /// bytes, so a line without them can be skipped without parsing it.
    static func agentMarker(_ agent: String) -> [UInt8] {
        var out = Array(#""agent_id":"#.utf8)
        writeString(agent, into: &out)
        return out
    }
}
