@testable import MPMRun

/// The byte scanner as it was before it learned to stream (commit 4189e18), kept as the
/// oracle: `SecretScanner.scan` must find exactly what this finds, on any input.
enum SecretScannerOracle {
    static let maxSecretLength = 8192

    static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> [SecretScanner.Match] {
        var out: [SecretScanner.Match] = []
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            var found: SecretScanner.Match?
            switch b {
            case UInt8(ascii: "A"): found = awsKey(bytes, i)
            case UInt8(ascii: "g"): found = githubToken(bytes, i)
            case UInt8(ascii: "s"): found = apiKey(bytes, i)
            case UInt8(ascii: "-"): found = privateKey(bytes, i)
            case UInt8(ascii: ":"): found = urlCredentials(bytes, i)
            default: break
            }
            if let m = found {
                out.append(m)
                i = max(m.range.upperBound, i + 1)
            } else {
                i += 1
            }
        }
        return out
    }

    static func scan(_ bytes: [UInt8]) -> [SecretScanner.Match] {
        bytes.withUnsafeBufferPointer { scan($0) }
    }

    // MARK: - Byte classes

    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
    @inline(__always) static func isUpperOrDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A)
    }
    @inline(__always) static func isTokenByte(_ b: UInt8) -> Bool {
        isAlnum(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
    }

    /// Secrets start at a word boundary: `xAKIA...` or `task-...` are not secrets.
    @inline(__always) static func atBoundary(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        i == 0 || !isTokenByte(p[i - 1])
    }

    static func hasPrefix(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard i + count <= p.count else { return false }
        let s = prefix.utf8Start
        for k in 0..<count where p[i + k] != s[k] { return false }
        return true
    }

    static func run(_ p: UnsafeBufferPointer<UInt8>, from i: Int, limit: Int = maxSecretLength, while pred: (UInt8) -> Bool) -> Int {
        var j = i
        while j < p.count, j - i < limit, pred(p[j]) { j += 1 }
        return j
    }

    // MARK: - Patterns

    /// AKIA or ASIA and 16 upper-case letters or digits.
    static func awsKey(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> SecretScanner.Match? {
        guard atBoundary(p, i), hasPrefix(p, i, "AKIA") || hasPrefix(p, i, "ASIA") else { return nil }
        let end = run(p, from: i + 4, limit: 17, while: isUpperOrDigit)
        guard end - (i + 4) == 16, end == p.count || !isAlnum(p[end]) else { return nil }
        return SecretScanner.Match(kind: .awsAccessKey, range: i..<end)
    }

    /// ghp_/gho_/ghu_/ghs_/ghr_ and at least 36 letters or digits, or github_pat_ tokens.
    static func githubToken(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> SecretScanner.Match? {
        guard atBoundary(p, i) else { return nil }
        if hasPrefix(p, i, "github_pat_") {
            let end = run(p, from: i + 11, while: { isAlnum($0) || $0 == UInt8(ascii: "_") })
            return end - (i + 11) >= 22 ? SecretScanner.Match(kind: .githubToken, range: i..<end) : nil
        }
        guard i + 4 <= p.count, p[i + 1] == UInt8(ascii: "h"), p[i + 3] == UInt8(ascii: "_"),
              [UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "u"), UInt8(ascii: "s"), UInt8(ascii: "r")].contains(p[i + 2])
        else { return nil }
        let end = run(p, from: i + 4, while: isAlnum)
        return end - (i + 4) >= 36 ? SecretScanner.Match(kind: .githubToken, range: i..<end) : nil
    }

    /// sk- and at least 20 key characters (covers sk-ant-, sk-proj- and plain OpenAI keys).
    static func apiKey(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> SecretScanner.Match? {
        guard atBoundary(p, i), hasPrefix(p, i, "sk-") else { return nil }
        let end = run(p, from: i + 3, while: isTokenByte)
        return end - (i + 3) >= 20 ? SecretScanner.Match(kind: .apiKey, range: i..<end) : nil
    }

    /// A `-----BEGIN ... PRIVATE KEY-----` block through its END line (or as far as it goes).
    static func privateKey(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> SecretScanner.Match? {
        guard hasPrefix(p, i, "-----BEGIN ") else { return nil }
        let headerEnd = run(p, from: i + 11, limit: 64, while: { $0 != UInt8(ascii: "-") && $0 != 0x0A })
        guard hasPrefix(p, headerEnd, "-----"),
              headerEnd - 11 >= i + 11, hasPrefix(p, headerEnd - 11, "PRIVATE KEY") else { return nil }
        var j = headerEnd + 5
        let limit = min(p.count, i + maxSecretLength)
        while j < limit {
            if hasPrefix(p, j, "-----END ") {
                let e = run(p, from: j + 9, limit: 64, while: { $0 != UInt8(ascii: "-") && $0 != 0x0A })
                let close = hasPrefix(p, e, "-----") ? e + 5 : e
                return SecretScanner.Match(kind: .privateKey, range: i..<close)
            }
            j += 1
        }
        return SecretScanner.Match(kind: .privateKey, range: i..<limit)
    }

    /// `scheme://user:password@` — the `user:password` part. Found from the `:` of `://`.
    static func urlCredentials(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> SecretScanner.Match? {
        guard hasPrefix(p, i, "://"), i > 0, isAlnum(p[i - 1]) else { return nil }
        let start = i + 3
        let userEnd = run(p, from: start, limit: 256, while: { !isSpace($0) && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "@") })
        guard userEnd > start, userEnd < p.count, p[userEnd] == UInt8(ascii: ":") else { return nil }
        let passEnd = run(p, from: userEnd + 1, limit: 512, while: { !isSpace($0) && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "@") })
        guard passEnd > userEnd + 1, passEnd < p.count, p[passEnd] == UInt8(ascii: "@") else { return nil }
        return SecretScanner.Match(kind: .databaseURL, range: start..<passEnd)
    }
}
