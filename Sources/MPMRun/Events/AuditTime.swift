#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The audit log's times: RFC 3339 in UTC with milliseconds (`2026-11-22T03:20:36.123Z`),
/// written and read here with plain calendar arithmetic, so that formatting never depends on
/// a locale, a time zone database or a formatter's cache (and a tail query parses thousands
/// of these quickly).
public enum AuditTime {
    /// Now, from CLOCK_REALTIME.
    public static func now() -> Date {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Date(timeIntervalSince1970: Double(t.tv_sec) + Double(t.tv_nsec) / 1e9)
    }

    /// `2026-11-22T03:20:36.123Z`. Milliseconds are truncated, never rounded up, so a record
    /// never claims a time later than the one it was written at.
    public static func format(_ date: Date) -> String {
        // Via whole microseconds first: 36.123 is stored as 36.12299999..., which would
        // otherwise truncate to .122.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let millis = floorDiv(micros, 1000)
        let seconds = floorDiv(millis, 1000)
        let ms = Int(millis - seconds * 1000)
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        let (y, m, d) = civil(fromDays: days)
        var s = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
        s += "T" + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        return s + "." + pad(ms, 3) + "Z"
    }

    /// Any RFC 3339 date-time: `2026-11-22T03:00:00Z`, `2026-11-22t03:00:00.5+02:00`,
    /// `2026-11-22 03:00:00Z`. Nil for anything else (including a date without a time).
    public static func parse(_ text: some StringProtocol) -> Date? {
        parse(bytes: Array(text.utf8))
    }

    static func parse(bytes: some Collection<UInt8>) -> Date? {
        if let d = bytes.withContiguousStorageIfAvailable({ parse(buffer: $0) }) { return d }
        return Array(bytes).withUnsafeBufferPointer { parse(buffer: $0) }
    }

    private static func parse(buffer b: UnsafeBufferPointer<UInt8>) -> Date? {
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                let c = b[k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c1: UInt8, _ c2: UInt8? = nil, _ c3: UInt8? = nil) -> Bool {
            guard i < b.count, b[i] == c1 || b[i] == c2 || b[i] == c3 else { return false }
            i += 1
            return true
        }
        let dash = UInt8(ascii: "-"), colon = UInt8(ascii: ":")
        guard let year = digits(4), expect(dash), let month = digits(2), expect(dash), let day = digits(2),
              expect(UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")), let hour = digits(2), expect(colon),
              let minute = digits(2), expect(colon), let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var fraction = 0.0
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                fraction += Double(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        if expect(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
            offset = 0
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(colon), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = days(fromCivil: year, month, day)
        // A leap second (:60) counts as the next second, as timegm does.
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// `--since`: RFC 3339, or a span back from `now`: `90s`, `10m`, `2h`, `1d`.
    public static func parseSince(_ text: String, now: Date) -> Date? {
        if let last = text.last, let unit = ["s": 1, "m": 60, "h": 3600, "d": 86_400][String(last)] {
            let number = text.dropLast()
            guard !number.isEmpty, number.allSatisfy(\.isASCII), let n = Int(number), n >= 0,
                  n <= 1_000_000_000 / unit  // about 31 years: far enough back, never an overflow
            else { return nil }
            return now.addingTimeInterval(-Double(n * unit))
        }
        return parse(text)
    }

    // Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian, day 0 is 1970-01-01.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        let y = Int(yoe + era * 400) + (m <= 2 ? 1 : 0)
        return (y, m, d)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
