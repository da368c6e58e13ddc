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
/// The line is written by the one JSON writer (JSONWriter.swift), not JSONEncoder, so that
/// its key order is fixed for people reading the file (`seq`, `ts`, `type`, `run_id`,
/// `agent_id`, the event's fields sorted, `prev` last) and so that encoding cannot fail
/// (JSONEncoder refuses a NaN, and a record must never be lost to a value's shape: NaN and
/// infinities are written as null). The hash chain covers the line's bytes.
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
        return sensitiveWords.contains { lower.containsBytes($0) }
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
        JSONValue.writeObject(all, into: &line)
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

    /// `"agent_id":"<id>"` as the writer spells it: every record of that agent contains these
    /// bytes, so a line without them can be skipped without parsing it.
    static func agentMarker(_ agent: String) -> [UInt8] {
        var out = Array(#""agent_id":"#.utf8)
        JSONValue.writeString(agent, into: &out)
        return out
    }
}
