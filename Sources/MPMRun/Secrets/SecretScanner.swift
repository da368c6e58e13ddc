/// Finds the secrets the security guide lists in bytes: AWS access keys, GitHub tokens,
/// `sk-` API keys, private key blocks and credentials in database URLs. `check` uses it to
/// warn about files; the output redactor (`OutputRedactor`) uses it on the agent's output
/// stream, where a secret can be cut by the end of a write.
///
/// Hand-written over bytes rather than regular expressions: it runs on every byte an agent
/// prints. Every pattern starts with one of a few byte sequences (`sk-`, `gh` not followed
/// by `t`, `git`, `AKI`, `ASI`, `---`, `:/`), so a filter tests 16 positions at a time with
/// vector compares, and only the few positions it finds are probed byte by byte.
public enum SecretScanner {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case awsAccessKey = "aws_access_key"
        case githubToken = "github_token"
        case apiKey = "api_key"
        case privateKey = "private_key"
        case databaseURL = "database_url"
        /// An exact value that the run passed to the agent (`OutputRedactor(literals:)`).
        /// `scan` never reports it: only the redactor knows the values.
        case envSecret = "env_secret"
    }

    public struct Match: Sendable, Equatable {
        public var kind: Kind
        /// The bytes to redact (for a URL, only the `user:password` part).
        public var range: Range<Int>
    }

    /// The longest a single secret may be, so a streaming caller knows how much to hold back.
    /// A private key block ends at its END line or this many bytes after its BEGIN, whichever
    /// comes first.
    public static let maxSecretLength = 8192

    public static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> [Match] {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return [] }
        let w = Window(base: base, count: bytes.count, before: -1, final: true)
        let matcher = Matcher.standard
        var out: [Match] = []
        var i = 0
        while case .match(let kind, var range, _, var resume) = matcher.next(w, from: i) {
            if kind == .privateKey {
                let end: Int
                switch privateKeyEnd(w, from: range.upperBound, limit: range.lowerBound + maxSecretLength) {
                case .end(let e): end = e
                case .needMore, .continues: end = w.count  // cannot happen in a final window
                }
                range = range.lowerBound..<end
                resume = end
            }
            out.append(Match(kind: kind, range: range))
            i = resume
        }
        return out
    }

    public static func scan(_ bytes: [UInt8]) -> [Match] {
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

    /// The bytes a token may go on with once it has matched, so that a streaming caller can
    /// keep dropping the rest of a token that a write cut.
    enum TokenClass: Sendable {
        case alnum, alnumUnderscore, token

        @inline(__always) func contains(_ b: UInt8) -> Bool {
            switch self {
            case .alnum: return SecretScanner.isAlnum(b)
            case .alnumUnderscore: return SecretScanner.isAlnum(b) || b == UInt8(ascii: "_")
            case .token: return SecretScanner.isTokenByte(b)
            }
        }
    }

    // MARK: - Windows and probes

    /// Bytes to scan. `before` is the byte just before `base[0]` (-1 at the start of a stream),
    /// for the word-boundary rules. A window that is not `final` may be cut by the end of a
    /// write: a pattern the end cuts short is `needMore`, not a miss.
    struct Window {
        let base: UnsafePointer<UInt8>
        let count: Int
        let before: Int
        let final: Bool

        @inline(__always) subscript(i: Int) -> UInt8 { base[i] }

        /// The byte before position `i`, or -1 at the start of the stream.
        @inline(__always) func previous(_ i: Int) -> Int { i > 0 ? Int(base[i - 1]) : before }

        /// Secrets start at a word boundary: `xAKIA...` or `task-...` are not secrets.
        @inline(__always) func atBoundary(_ i: Int) -> Bool {
            let b = previous(i)
            return b < 0 || !SecretScanner.isTokenByte(UInt8(truncatingIfNeeded: b))
        }

        enum Prefix { case yes, no, partial }

        /// Whether the bytes at `i` are `prefix`; `.partial` when the window ends inside a
        /// match of it (never in a final window).
        @inline(__always) func hasPrefix(_ i: Int, _ prefix: StaticString) -> Prefix {
            let length = prefix.utf8CodeUnitCount
            let s = prefix.utf8Start
            let available = min(length, count - i)
            var k = 0
            while k < available {
                if base[i + k] != s[k] { return .no }
                k += 1
            }
            return available == length ? .yes : (final ? .no : .partial)
        }

        @inline(__always) func run(from i: Int, limit: Int, while pred: (UInt8) -> Bool) -> Int {
            let end = min(count, i + limit)
            var j = i
            while j < end, pred(base[j]) { j += 1 }
            return j
        }

        /// A run from `start` that stopped at `end` was stopped by the end of the window, not
        /// by a byte or its limit: the next write decides.
        @inline(__always) func cut(_ end: Int, from start: Int, limit: Int) -> Bool {
            !final && end == count && end - start < limit
        }
    }

    enum Probe {
        case no
        case needMore
        /// `following`: the bytes the token may continue with (nil for fixed-shape secrets).
        case match(Kind, Range<Int>, following: TokenClass?)
    }

    /// AKIA or ASIA and 16 upper-case letters or digits.
    static func awsKey(_ w: Window, _ i: Int) -> Probe {
        guard w.atBoundary(i) else { return .no }
        var p = w.hasPrefix(i, "AKIA")
        if p == .no { p = w.hasPrefix(i, "ASIA") }
        switch p {
        case .no: return .no
        case .partial: return .needMore
        case .yes: break
        }
        let s = i + 4
        let end = w.run(from: s, limit: 17, while: isUpperOrDigit)
        if w.cut(end, from: s, limit: 17) { return .needMore }
        guard end - s == 16, end == w.count || !isAlnum(w[end]) else { return .no }
        return .match(.awsAccessKey, i..<end, following: nil)
    }

    /// ghp_/gho_/ghu_/ghs_/ghr_ and at least 36 letters or digits, or github_pat_ tokens.
    static func githubToken(_ w: Window, _ i: Int) -> Probe {
        guard w.atBoundary(i) else { return .no }
        switch w.hasPrefix(i, "github_pat_") {
        case .yes:
            return token(w, i, from: i + 11, minimum: 22, .alnumUnderscore, .githubToken)
        case .partial:
            return .needMore
        case .no:
            break
        }
        // g, h, one of p o u s r, _
        var k = 1
        while k < 4 {
            if i + k >= w.count { return w.final ? .no : .needMore }
            let b = w[i + k]
            let ok: Bool
            switch k {
            case 1: ok = b == UInt8(ascii: "h")
            case 2: ok = b == UInt8(ascii: "p") || b == UInt8(ascii: "o") || b == UInt8(ascii: "u")
                || b == UInt8(ascii: "s") || b == UInt8(ascii: "r")
            default: ok = b == UInt8(ascii: "_")
            }
            if !ok { return .no }
            k += 1
        }
        return token(w, i, from: i + 4, minimum: 36, .alnum, .githubToken)
    }

    /// sk- and at least 20 key characters (covers sk-ant-, sk-proj- and plain OpenAI keys).
    static func apiKey(_ w: Window, _ i: Int) -> Probe {
        guard w.atBoundary(i) else { return .no }
        switch w.hasPrefix(i, "sk-") {
        case .no: return .no
        case .partial: return .needMore
        case .yes: return token(w, i, from: i + 3, minimum: 20, .token, .apiKey)
        }
    }

    /// A token of at least `minimum` bytes of `cls` after its prefix. One that the end of the
    /// window cuts is a match once it is long enough (the caller drops the rest as it comes).
    @inline(__always) static func token(_ w: Window, _ i: Int, from s: Int, minimum: Int, _ cls: TokenClass, _ kind: Kind) -> Probe {
        let end = w.run(from: s, limit: maxSecretLength, while: cls.contains)
        if end - s >= minimum { return .match(kind, i..<end, following: cls) }
        return w.cut(end, from: s, limit: maxSecretLength) ? .needMore : .no
    }

    /// The `-----BEGIN ... PRIVATE KEY-----` line. The match is the header only; the block
    /// goes on to `privateKeyEnd`.
    static func privateKeyHeader(_ w: Window, _ i: Int) -> Probe {
        switch w.hasPrefix(i, "-----BEGIN ") {
        case .no: return .no
        case .partial: return .needMore
        case .yes: break
        }
        let s = i + 11
        let headerEnd = w.run(from: s, limit: 64, while: { $0 != UInt8(ascii: "-") && $0 != 0x0A })
        if w.cut(headerEnd, from: s, limit: 64) { return .needMore }
        switch w.hasPrefix(headerEnd, "-----") {
        case .no: return .no
        case .partial: return .needMore
        case .yes: break
        }
        guard headerEnd - 11 >= s, w.hasPrefix(headerEnd - 11, "PRIVATE KEY") == .yes else { return .no }
        return .match(.privateKey, i..<(headerEnd + 5), following: nil)
    }

    enum BlockEnd: Equatable {
        /// The block ends before this position (after its END line, or at the length limit).
        case end(Int)
        /// An END line may start here, but the window ends inside it.
        case needMore(Int)
        /// No END line in this window: all of it belongs to the block.
        case continues
    }

    /// Where a private key block whose body starts at `from` ends: after `-----END ...-----`,
    /// which must start before `limit` (the block is at most `maxSecretLength` bytes).
    static func privateKeyEnd(_ w: Window, from: Int, limit: Int) -> BlockEnd {
        let stop = min(w.count, limit)
        var j = from
        while j < stop {
            // Base64 bodies have no '-': skip to the next one.
            if w[j] != UInt8(ascii: "-") { j += 1; continue }
            switch w.hasPrefix(j, "-----END ") {
            case .no:
                j += 1
                continue
            case .partial:
                return .needMore(j)
            case .yes:
                let s = j + 9
                let e = w.run(from: s, limit: 64, while: { $0 != UInt8(ascii: "-") && $0 != 0x0A })
                if w.cut(e, from: s, limit: 64) { return .needMore(j) }
                switch w.hasPrefix(e, "-----") {
                case .yes: return .end(e + 5)
                case .partial: return .needMore(j)
                case .no: return .end(e)
                }
            }
        }
        if limit <= w.count { return .end(limit) }
        return w.final ? .end(w.count) : .continues
    }

    /// `scheme://user:password@` — the `user:password` part. Found from the `:` of `://`.
    static func urlCredentials(_ w: Window, _ i: Int) -> Probe {
        let before = w.previous(i)
        guard before >= 0, isAlnum(UInt8(truncatingIfNeeded: before)) else { return .no }
        switch w.hasPrefix(i, "://") {
        case .no: return .no
        case .partial: return .needMore
        case .yes: break
        }
        let start = i + 3
        let userEnd = w.run(from: start, limit: 256, while: { !isSpace($0) && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "@") })
        if w.cut(userEnd, from: start, limit: 256) { return .needMore }
        guard userEnd > start, userEnd < w.count, w[userEnd] == UInt8(ascii: ":") else { return .no }
        let passStart = userEnd + 1
        let passEnd = w.run(from: passStart, limit: 512, while: { !isSpace($0) && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "@") })
        if w.cut(passEnd, from: passStart, limit: 512) { return .needMore }
        guard passEnd > passStart, passEnd < w.count, w[passEnd] == UInt8(ascii: "@") else { return .no }
        return .match(.databaseURL, start..<passEnd, following: nil)
    }

    // MARK: - Matcher

    enum Hit {
        case none
        /// A secret may start at this position; the window ends before it can tell.
        case needMore(Int)
        /// `resume`: where scanning goes on after this match.
        case match(Kind, Range<Int>, following: TokenClass?, resume: Int)
    }

    /// The patterns, plus exact values (`literals`) for the redactor. Finds the next secret
    /// from a position: a filter looks at 16 positions at a time for the first bytes that
    /// every pattern and literal starts with, and only the positions it finds are probed.
    struct Matcher: Sendable {
        static let standard = Matcher(literals: [])

        typealias V = SIMD16<UInt8>
        typealias M = SIMDMask<SIMD16<Int8>>

        static let builtinFlag: UInt8 = 1
        static let literalFlag: UInt8 = 2
        /// The patterns that start with this byte need a word boundary before it.
        static let boundaryFlag: UInt8 = 4

        /// Per byte: whether a pattern (1) or a literal (2) may start with it.
        let firstByte: [UInt8]
        /// Longest first, so that a literal that starts another is not preferred to it.
        let literals: [[UInt8]]
        /// Up to four slots for the literals' starts: their first three bytes, and whether
        /// the first byte alone will do (when there are too many distinct starts).
        let slotFirst: (V, V, V, V)
        let slotSecond: (V, V, V, V)
        let slotThird: (V, V, V, V)
        let slotFirstOnly: (M, M, M, M)
        let hasSlots: Bool
        /// How many slots are in use (1 to 4; the rest repeat the first).
        let slotCount: Int
        /// Too many distinct literal starts for the filter: probe every position.
        let everyPosition: Bool

        /// - Parameter literals: values of at least 3 bytes (shorter ones are ignored).
        init(literals: [[UInt8]]) {
            var table = [UInt8](repeating: 0, count: 256)
            for c in "Ags-:".utf8 { table[Int(c)] |= Self.builtinFlag }
            for c in "Ags".utf8 { table[Int(c)] |= Self.boundaryFlag }
            let lits = literals.filter { $0.count >= 3 }.sorted { $0.count > $1.count }
            for l in lits { table[Int(l[0])] |= Self.literalFlag }
            firstByte = table
            self.literals = lits

            var starts: [[UInt8]] = []
            for l in lits where !starts.contains(Array(l[..<3])) { starts.append(Array(l[..<3])) }
            var slots: [(UInt8, UInt8, UInt8, Bool)] = starts.map { ($0[0], $0[1], $0[2], false) }
            var every = false
            if slots.count > 4 {
                var firsts: [UInt8] = []
                for p in starts where !firsts.contains(p[0]) { firsts.append(p[0]) }
                slots = firsts.map { ($0, 0, 0, true) }
                if slots.count > 4 { every = true; slots = [] }
            }
            hasSlots = !slots.isEmpty
            slotCount = slots.count
            everyPosition = every
            // Unused slots repeat the first: they cost a few operations, never an extra hit.
            while slots.count < 4 { slots.append(slots.first ?? (0, 0, 0, false)) }
            func splat(_ k: Int, _ part: KeyPath<(UInt8, UInt8, UInt8, Bool), UInt8>) -> V { V(repeating: slots[k][keyPath: part]) }
            slotFirst = (splat(0, \.0), splat(1, \.0), splat(2, \.0), splat(3, \.0))
            slotSecond = (splat(0, \.1), splat(1, \.1), splat(2, \.1), splat(3, \.1))
            slotThird = (splat(0, \.2), splat(1, \.2), splat(2, \.2), splat(3, \.2))
            func firstOnly(_ k: Int) -> M { M(repeating: slots[k].3) }
            slotFirstOnly = (firstOnly(0), firstOnly(1), firstOnly(2), firstOnly(3))
        }

        // The filter. Written so that the compiler makes one vector compare of each `.==`
        // (pcmpeqb on x86): in a bigger function, or through `any()`, it has made element
        // loops and calls instead, several times slower.

        @inline(__always) static func eq(_ a: V, _ c: UInt8) -> M { a .== V(repeating: c) }

        /// The bytes a block of 16 positions needs: the filter looks at three from each.
        static let blockReach = 18

        /// The lanes set in `m`, as bits 0...15.
        @inline(__always) static func bits(_ m: M) -> UInt64 {
            let w = unsafeBitCast(m, to: SIMD2<UInt64>.self)
            let lo = w[0], hi = w[1]
            if (lo | hi) == 0 { return 0 }
            // Gathers one bit of each byte into the top byte (no pmovmskb in Swift).
            let ones: UInt64 = 0x0101_0101_0101_0101
            let gather: UInt64 = 0x0102_0408_1020_4080
            return (((lo >> 7) & ones) &* gather) >> 56 | (((((hi >> 7) & ones) &* gather) >> 56) << 8)
        }

        /// The lanes where a built-in pattern may start, from the block (`a`) and the block one
        /// and two bytes on (`b`, `c`): `sk-`; `gh` not followed by `t` (`ghp_`..., not `right`);
        /// `git`; `AK` or `AS` (tested as `A` and one of `CKS[`) followed by `I`; `---`; `:/`.
        /// Pairs alone stop the filter every few words of text (`task`, `right`); these do not.
        @inline(__always) static func builtin(_ a: V, _ b: V, _ c: V) -> M {
            let dash = eq(c, UInt8(ascii: "-"))
            let sk = eq(a, UInt8(ascii: "s")) .& eq(b, UInt8(ascii: "k")) .& dash
            // b is h or i, and: i with t after it, or h without.
            let gh = eq(a, UInt8(ascii: "g")) .& eq(b | V(repeating: 1), UInt8(ascii: "i"))
                .& .!(eq(b, UInt8(ascii: "h")) .^ .!eq(c, UInt8(ascii: "t")))
            let aws = eq(a, UInt8(ascii: "A")) .& eq(b | V(repeating: 0x18), 0x5B) .& eq(c, UInt8(ascii: "I"))
            let dashes = eq(a, UInt8(ascii: "-")) .& eq(b, UInt8(ascii: "-")) .& dash
            let url = eq(a, UInt8(ascii: ":")) .& eq(b, UInt8(ascii: "/"))
            return sk .| gh .| aws .| dashes .| url
        }

        /// The lanes where a built-in pattern's first two bytes are: `sk`, `gh` or `gi`, `AK` or
        /// `AS` (tested as `A` and one of `CKS[`), `--`, `:/`. Cheaper than `builtin`, which
        /// only blocks with one of them need.
        @inline(__always) static func pairs(_ a: V, _ b: V) -> M {
            let sk = eq(a, UInt8(ascii: "s")) .& eq(b, UInt8(ascii: "k"))
            let gh = eq(a, UInt8(ascii: "g")) .& eq(b | V(repeating: 1), UInt8(ascii: "i"))
            let aws = eq(a, UInt8(ascii: "A")) .& eq(b | V(repeating: 0x18), 0x5B)
            let dashes = eq(a, UInt8(ascii: "-")) .& eq(b, UInt8(ascii: "-"))
            let url = eq(a, UInt8(ascii: ":")) .& eq(b, UInt8(ascii: "/"))
            return sk .| gh .| aws .| dashes .| url
        }

        @inline(__always) static func anyLane(_ m: M) -> Bool {
            let w = unsafeBitCast(m, to: SIMD2<UInt64>.self)
            return (w[0] | w[1]) != 0
        }

        /// From `i`, the first 16-byte block in which a built-in pattern may start, and the
        /// positions in it where one may (as bits); or the first position with fewer than 18
        /// bytes left, and 0 (the filter reads two bytes past the block).
        @inline(never)
        static func findBlock(_ p: UnsafeRawPointer, from i: Int, count n: Int) -> (Int, UInt64) {
            var i = i
            while i + blockReach <= n {
                let a = p.loadUnaligned(fromByteOffset: i, as: V.self)
                let b = p.loadUnaligned(fromByteOffset: i + 1, as: V.self)
                // Most blocks have no pair at all: the third byte only where one has.
                if anyLane(pairs(a, b)) {
                    let c = p.loadUnaligned(fromByteOffset: i + 2, as: V.self)
                    let found = bits(builtin(a, b, c))
                    if found != 0 { return (i, found) }
                }
                i += 16
            }
            return (i, 0)
        }

        /// `findBlock` for the built-in patterns and the literals' slots.
        @inline(never)
        func findBlockWithSlots(_ p: UnsafeRawPointer, from i: Int, count n: Int) -> (Int, UInt64) {
            switch slotCount {
            case 1: return slotLoop(p, from: i, count: n, slots: 1)
            case 2: return slotLoop(p, from: i, count: n, slots: 2)
            default: return slotLoop(p, from: i, count: n, slots: 4)
            }
        }

        /// Specialised by `slots` (a constant where it is inlined), so unused slots cost nothing.
        @inline(__always)
        func slotLoop(_ p: UnsafeRawPointer, from i: Int, count n: Int, slots: Int) -> (Int, UInt64) {
            let (f0, f1, f2, f3) = slotFirst
            let (s0, s1, s2, s3) = slotSecond
            let (t0, t1, t2, t3) = slotThird
            let (o0, o1, o2, o3) = slotFirstOnly
            var i = i
            while i + Self.blockReach <= n {
                let a = p.loadUnaligned(fromByteOffset: i, as: V.self)
                let b = p.loadUnaligned(fromByteOffset: i + 1, as: V.self)
                let c = p.loadUnaligned(fromByteOffset: i + 2, as: V.self)
                var m = Self.builtin(a, b, c) .| ((a .== f0) .& (((b .== s0) .& (c .== t0)) .| o0))
                if slots > 1 { m = m .| ((a .== f1) .& (((b .== s1) .& (c .== t1)) .| o1)) }
                if slots > 2 {
                    m = m .| ((a .== f2) .& (((b .== s2) .& (c .== t2)) .| o2))
                    m = m .| ((a .== f3) .& (((b .== s3) .& (c .== t3)) .| o3))
                }
                let found = Self.bits(m)
                if found != 0 { return (i, found) }
                i += 16
            }
            return (i, 0)
        }

        func next(_ w: Window, from start: Int) -> Hit {
            let n = w.count
            let p = UnsafeRawPointer(w.base)
            var i = start
            return firstByte.withUnsafeBufferPointer { table in
                // 16 positions at a time while the filter can read two bytes past them.
                while i + Self.blockReach <= n {
                    var bits: UInt64
                    if everyPosition {
                        bits = 0xFFFF
                    } else {
                        (i, bits) = hasSlots ? findBlockWithSlots(p, from: i, count: n) : Self.findBlock(p, from: i, count: n)
                        if bits == 0 { break }
                    }
                    while bits != 0 {
                        let j = i + bits.trailingZeroBitCount
                        bits &= bits &- 1
                        let flags = table[Int(w[j])]
                        if flags == 0 { continue }
                        // Most hits in text are inside words (`task`, `right`): no call.
                        if flags == Self.builtinFlag | Self.boundaryFlag && !w.atBoundary(j) { continue }
                        switch probe(w, j, flags) {
                        case .no: continue
                        case .needMore: return .needMore(j)
                        case .match(let kind, let range, let following):
                            return .match(kind, range, following: following, resume: max(range.upperBound, j + 1))
                        }
                    }
                    i += 16
                }
                while i < n {
                    let flags = table[Int(w[i])]
                    if flags != 0 {
                        switch probe(w, i, flags) {
                        case .no: break
                        case .needMore: return .needMore(i)
                        case .match(let kind, let range, let following):
                            return .match(kind, range, following: following, resume: max(range.upperBound, i + 1))
                        }
                    }
                    i += 1
                }
                return .none
            }
        }

        @inline(never) func probe(_ w: Window, _ i: Int, _ flags: UInt8) -> Probe {
            var found = Probe.no
            if flags & Self.builtinFlag != 0 {
                switch w[i] {
                case UInt8(ascii: "A"): found = awsKey(w, i)
                case UInt8(ascii: "g"): found = githubToken(w, i)
                case UInt8(ascii: "s"): found = apiKey(w, i)
                case UInt8(ascii: "-"): found = privateKeyHeader(w, i)
                case UInt8(ascii: ":"): found = urlCredentials(w, i)
                default: break
                }
            }
            guard flags & Self.literalFlag != 0 else { return found }
            let literal = literalAt(w, i)
            switch (found, literal) {
            case (.needMore, _), (_, .needMore): return .needMore
            case (.no, _): return literal
            case (_, .no): return found
            case (.match(_, let a, _), .match(_, let b, _)): return b.upperBound > a.upperBound ? literal : found
            }
        }

        /// The longest literal at `i`; `.needMore` when the window ends inside one that
        /// matches so far (a shorter one that matched fully still waits: the longer one wins).
        func literalAt(_ w: Window, _ i: Int) -> Probe {
            let available = w.count - i
            for lit in literals where lit[0] == w[i] {
                let matched = lit.withUnsafeBufferPointer { l -> Bool in
                    let m = min(l.count, available)
                    var k = 1
                    while k < m, l[k] == w[i + k] { k += 1 }
                    return k == m
                }
                guard matched else { continue }
                if lit.count <= available { return .match(.envSecret, i..<(i + lit.count), following: nil) }
                if !w.final { return .needMore }
            }
            return .no
        }
    }
}
