import Testing

@testable import MPMRun

typealias RedactorRandom = SeededRandom

extension SeededRandom {
    /// `bytes` cut into chunks of 1 to `maxChunk` bytes.
    mutating func chunks(_ bytes: [UInt8], maxChunk: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let n = min(bytes.count - i, 1 + below(maxChunk))
            out.append(Array(bytes[i..<(i + n)]))
            i += n
        }
        return out
    }
}

extension OutputRedactor {
    func feed(_ bytes: [UInt8], now: Int64 = 0) -> [UInt8] {
        bytes.withUnsafeBytes { Array(feed($0, now: now)) }
    }

    /// Every chunk fed at once, then the end of the stream: all the output.
    func redact(_ chunks: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for c in chunks { out += feed(c) }
        out += Array(flush())
        return out
    }
}

/// Redacts `text` fed in pieces cut at `splits` (offsets into its UTF-8 bytes).
func redacted(_ text: String, at splits: [Int] = [], literals: [String] = []) -> String {
    let bytes = Array(text.utf8)
    var chunks: [[UInt8]] = []
    var last = 0
    for s in splits + [bytes.count] {
        chunks.append(Array(bytes[last..<s]))
        last = s
    }
    return String(decoding: OutputRedactor(literals: literals).redact(chunks), as: UTF8.self)
}

/// What `SecretScanner.scan` says the stream should become, written out: the reference that
/// streamed redaction must equal.
func redactedAtOnce(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var last = 0
    for m in SecretScanner.scan(bytes) {
        out += bytes[last..<m.range.lowerBound]
        out += Array("[REDACTED:\(m.kind.rawValue)]".utf8)
        last = m.range.upperBound
    }
    return out + bytes[last...]
}

@Suite struct OutputRedactorTests {
    struct Sample: CustomTestStringConvertible, Sendable {
        var secret: String
        var kind: SecretScanner.Kind
        /// What `secret` becomes.
        var becomes: String
        /// A part of the secret that must never show.
        var telltale: String

        var testDescription: String { kind.rawValue + " " + String(secret.prefix(12)) }

        init(_ secret: String, _ kind: SecretScanner.Kind, becomes: String? = nil, telltale: String? = nil) {
            self.secret = secret
            self.kind = kind
            self.becomes = becomes ?? "[REDACTED:\(kind.rawValue)]"
            self.telltale = telltale ?? String(secret.suffix(12))
        }
    }

    static let pemBody = (0..<20).map { _ in "MIIEowIBAAKCAQEA7v1Qx0aN+/b1Uq1ZtXH2gqK9pYdVeF3pR8sWkLmN" }.joined(separator: "\n")

    static let samples: [Sample] = [
        Sample("sk-ant-api03-" + String(repeating: "a1B2", count: 6), .apiKey),
        Sample("sk-proj-" + String(repeating: "Zx9_", count: 10), .apiKey),
        Sample("AKIA" + "IOSFODNN7EXAMPLE", .awsAccessKey),
        Sample("ASIA" + "ABCDEFGHIJ123456", .awsAccessKey),
        Sample("ghp_" + String(repeating: "x", count: 36), .githubToken),
        Sample("gho_" + String(repeating: "Q7", count: 20), .githubToken),
        Sample("github_pat_" + "11ABCDEFG0_" + String(repeating: "k", count: 40), .githubToken),
        Sample("postgres://admin:hunter2hunter2@db.example.com/app", .databaseURL,
               becomes: "postgres://[REDACTED:database_url]@db.example.com/app", telltale: "hunter2"),
        Sample("-----BEGIN RSA PRIVATE KEY-----\n" + pemBody + "\n-----END RSA PRIVATE KEY-----", .privateKey,
               telltale: "MIIEowIBAAKCAQEA7"),
    ]

    // MARK: - Each kind

    @Test(arguments: samples)
    func eachKindIsRedacted(sample: Sample) {
        let line = "token: \(sample.secret) ok\n"
        let r = OutputRedactor()
        let out = String(decoding: r.redact([Array(line.utf8)]), as: UTF8.self)
        #expect(out == "token: \(sample.becomes) ok\n")
        #expect(r.findings == [sample.kind: 1])
        #expect(r.redactions == 1)
    }

    @Test(arguments: samples)
    func aSecretSplitAtEveryByteAcrossTwoWritesIsRedacted(sample: Sample) {
        let line = "token: \(sample.secret) ok\n"
        let expected = "token: \(sample.becomes) ok\n"
        for k in 0...line.utf8.count {
            let out = redacted(line, at: [k])
            #expect(out == expected, "split at \(k)")
            #expect(!out.contains(sample.telltale))
        }
    }

    @Test(arguments: samples)
    func aSecretSplitAcrossThreeWritesIsRedacted(sample: Sample) {
        let line = "x \(sample.secret)\n"
        let expected = "x \(sample.becomes)\n"
        let n = line.utf8.count
        // Every pair of split points for the short kinds; a stride through the long block.
        let step = n > 200 ? 7 : 1
        for i in stride(from: 0, through: n, by: step) {
            for j in stride(from: i, through: n, by: step) {
                #expect(redacted(line, at: [i, j]) == expected, "splits at \(i), \(j)")
            }
        }
    }

    /// At every lane of the 16-position filter, and in the last bytes it leaves to the
    /// byte-by-byte tail.
    @Test(arguments: samples)
    func aSecretIsFoundAtEveryOffset(sample: Sample) {
        for offset in 0..<40 {
            let pad = String(repeating: " ", count: offset)
            #expect(redacted(pad + sample.secret + "\n") == pad + sample.becomes + "\n", "offset \(offset)")
            #expect(SecretScanner.scan(Array((pad + sample.secret).utf8)).map(\.kind) == [sample.kind], "offset \(offset)")
        }
    }

    @Test func aSecretAtTheVeryStartAndEndOfTheStream() {
        let key = "sk-" + String(repeating: "q", count: 30)
        #expect(redacted(key) == "[REDACTED:api_key]")
        #expect(redacted(key, at: [5]) == "[REDACTED:api_key]")
        let aws = "AKIAIOSFODNN7EXAMPLE"
        #expect(redacted(aws) == "[REDACTED:aws_access_key]")
        #expect(redacted(aws, at: [19]) == "[REDACTED:aws_access_key]")
    }

    @Test func aLongTokenWrittenAByteAtATimeIsRedactedOnceAndNeverShown() {
        let key = "sk-" + String(repeating: "abcdefgh", count: 625)  // 5003 bytes, past the hold bound
        let line = Array("KEY=\(key) done\n".utf8)
        let r = OutputRedactor()
        var out: [UInt8] = []
        for b in line {
            out += r.feed([b])
            #expect(r.heldBytes <= r.holdBytes)
        }
        out += Array(r.flush())
        #expect(String(decoding: out, as: UTF8.self) == "KEY=[REDACTED:api_key] done\n")
        #expect(r.findings == [.apiKey: 1])
    }

    // MARK: - Private key blocks

    @Test(arguments: [1, 3, 17, 64, 500, 4096])
    func aPrivateKeyBlockSpreadOverManyWritesIsRedactedOnce(chunk: Int) {
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + Self.pemBody + "\n-----END OPENSSH PRIVATE KEY-----"
        let text = Array("start\n\(pem)\nafter\n".utf8)
        var chunks: [[UInt8]] = []
        var i = 0
        while i < text.count { chunks.append(Array(text[i..<min(text.count, i + chunk)])); i += chunk }
        let r = OutputRedactor()
        var out: [UInt8] = []
        for c in chunks {
            out += r.feed(c)
            #expect(r.heldBytes <= r.holdBytes)
        }
        out += Array(r.flush())
        #expect(String(decoding: out, as: UTF8.self) == "start\n[REDACTED:private_key]\nafter\n")
        #expect(r.findings == [.privateKey: 1])
    }

    @Test func aBlockWithoutItsEndLineEndsAtTheScannersLimitAsAtOnce() {
        let text = Array(("-----BEGIN EC PRIVATE KEY-----\n" + String(repeating: "abcdefghijklmno\n", count: 700) + "tail\n").utf8)
        let expected = redactedAtOnce(text)
        #expect(expected.count < text.count - SecretScanner.maxSecretLength + 100)
        for size in [1, 13, 1000] {
            var chunks: [[UInt8]] = []
            var i = 0
            while i < text.count { chunks.append(Array(text[i..<min(text.count, i + size)])); i += size }
            #expect(OutputRedactor().redact(chunks) == expected, "chunks of \(size)")
        }
    }

    @Test func aPublicKeyOrACertificateIsNotAPrivateKey() {
        let text = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
        for k in 0...text.utf8.count { #expect(redacted(text, at: [k]) == text) }
    }

    // MARK: - URLs

    static let urls: [(String, String)] = [
        ("postgres://admin:hunter2@db/app", "postgres://[REDACTED:database_url]@db/app"),
        ("mysql://root:s3cret@127.0.0.1:3306/db", "mysql://[REDACTED:database_url]@127.0.0.1:3306/db"),
        ("https://user:p%40ss:word@example.com/x", "https://[REDACTED:database_url]@example.com/x"),
        ("mongodb+srv://app:Zy7x@cluster0.example.net", "mongodb+srv://[REDACTED:database_url]@cluster0.example.net"),
        // Not credentials: no password, a port, no '@' on the same line, no scheme.
        ("http://example.com:8080/path", "http://example.com:8080/path"),
        ("see http://host:80 and mail me@example.com", "see http://host:80 and mail me@example.com"),
        ("user:pass@host", "user:pass@host"),
        ("postgres://user:\npass@host", "postgres://user:\npass@host"),
        ("://a:b@c", "://a:b@c"),
    ]

    @Test(arguments: urls)
    func urlCredentialsAreRedactedAtEverySplit(url: String, becomes: String) {
        for k in 0...url.utf8.count {
            #expect(redacted(url + "\n", at: [k]) == becomes + "\n", "split at \(k)")
        }
    }

    // MARK: - Literal values

    @Test func literalValuesAreRedactedAtEverySplit() {
        let value = "Zq9!lit3ral#V4lue"
        let line = "env says \(value), twice:\(value)\n"
        for k in 0...line.utf8.count {
            #expect(redacted(line, at: [k], literals: [value])
                    == "env says [REDACTED:env_secret], twice:[REDACTED:env_secret]\n", "split at \(k)")
        }
        let r = OutputRedactor(literals: [value])
        _ = r.redact([Array(line.utf8)])
        #expect(r.findings == [.envSecret: 2])
    }

    @Test func shortLiteralsAreNotMatched() {
        #expect(redacted("the value is abc1234 here\n", literals: ["abc1234", ""]) == "the value is abc1234 here\n")
        #expect(redacted("the value is abc12345 here\n", literals: ["abc12345"]) == "the value is [REDACTED:env_secret] here\n")
    }

    @Test func aMultiLineLiteralIsMatchedLineByLine() {
        let value = "first-line-of-it\r\nsecond-line-of-it\nok"
        #expect(redacted("a first-line-of-it b second-line-of-it c ok\n", literals: [value])
                == "a [REDACTED:env_secret] b [REDACTED:env_secret] c ok\n")
    }

    @Test func theLongerOfTwoMatchesWins() {
        // A literal that starts with an API key: the whole value goes.
        let value = "sk-live-" + String(repeating: "x", count: 24) + "!!suffix"
        #expect(redacted("k=\(value).\n", literals: [value]) == "k=[REDACTED:env_secret].\n")
        // A literal that is a prefix of another: the longer one, even when a write cuts it.
        let line = "v=abcdefgh12345678 w=abcdefgh\n"
        for k in 0...line.utf8.count {
            #expect(redacted(line, at: [k], literals: ["abcdefgh", "abcdefgh12345678"])
                    == "v=[REDACTED:env_secret] w=[REDACTED:env_secret]\n", "split at \(k)")
        }
        // The same value as a built-in pattern: reported as that kind.
        let key = "sk-" + String(repeating: "m", count: 30)
        let r = OutputRedactor(literals: [key])
        #expect(String(decoding: r.redact([Array("\(key)\n".utf8)]), as: UTF8.self) == "[REDACTED:api_key]\n")
    }

    /// Literals that start like a pattern but are not one (the filter's own triples would
    /// skip them), at every lane of the filter.
    @Test func literalsThatStartLikeAPatternAreFoundAtEveryOffset() {
        let values = ["skAbCdEf12345", "ghtoken-value-1", "AKxx-literal", "--not-a-flag-value"]
        for value in values {
            for offset in 0..<40 {
                let pad = String(repeating: "x ", count: offset / 2) + (offset % 2 == 1 ? " " : "")
                #expect(redacted(pad + value + " end\n", literals: [value]) == pad + "[REDACTED:env_secret] end\n",
                        "\(value) at \(offset)")
            }
        }
    }

    @Test func manyLiteralsWithDistinctStartsStillMatch() {
        // More distinct starts than the filter's slots: it falls back to coarser filters.
        for count in [3, 6, 40] {
            let values = (0..<count).map { i in "\(Character(UnicodeScalar(UInt8(0x21 + i))))\(i)-Secret-\(i * 7919)" }
            let line = values.map { "<\($0)>" }.joined(separator: " ") + "\n"
            let expected = values.map { _ in "<[REDACTED:env_secret]>" }.joined(separator: " ") + "\n"
            #expect(redacted(line, literals: values) == expected, "\(count) literals")
            #expect(redacted(line, at: [line.utf8.count / 3], literals: values) == expected, "\(count) literals, split")
        }
        // Six pairs, two first bytes: the filter keys on the first byte only.
        let values = ["Xa-secret-1", "Xb-secret-2", "Xc-secret-3", "Yd-secret-4", "Ye-secret-5", "Yf-secret-6"]
        let line = values.joined(separator: ", ") + " Xa Yf\n"
        let expected = values.map { _ in "[REDACTED:env_secret]" }.joined(separator: ", ") + " Xa Yf\n"
        for k in 0...line.utf8.count { #expect(redacted(line, at: [k], literals: values) == expected, "split at \(k)") }
    }

    // MARK: - Text without secrets passes byte-exact

    @Test func textWithoutSecretsPassesThroughByteExact() {
        var rng = RedactorRandom(seed: 42)
        let words = ["the", "task-1234567890abcdefghijklmnop", "skip", "sky", "ask", "ghost", "gh", "AKIA", "ASIAN",
                     "-----", "--flag", "http://host:80/x", "key:", "value", "github", "sk-", "sk-short", "A",
                     "postgres://db/app", "user@example.com", "ghp_short", "::", "://", "BEGIN", "PRIVATE KEY",
                     "ünïcødé", "\t", "12:34:56", "Always", "gather", "s", "g", "-"]
        var text: [UInt8] = []
        while text.count < 300_000 {
            text += Array(rng.pick(words).utf8)
            text.append(rng.below(10) == 0 ? 0x0A : 0x20)
        }
        #expect(SecretScanner.scan(text).isEmpty)
        for maxChunk in [1, 100, 70_000] {
            let r = OutputRedactor(literals: ["not-in-the-text-42"])
            #expect(r.redact(rng.chunks(text, maxChunk: maxChunk)) == text, "chunks up to \(maxChunk)")
            #expect(r.findings.isEmpty)
        }
    }

    @Test func randomBinaryPassesThroughByteExact() {
        var rng = RedactorRandom(seed: 7)
        let data = rng.bytes(1 << 20)  // NUL, invalid UTF-8, everything
        for maxChunk in [5, 4096, 300_000] {
            let r = OutputRedactor(literals: ["a-literal-value"])
            #expect(r.redact(rng.chunks(data, maxChunk: maxChunk)) == data, "chunks up to \(maxChunk)")
            #expect(r.findings.isEmpty)
        }
    }

    @Test func aWriteWithoutSecretsIsReturnedInPlace() {
        let r = OutputRedactor()
        let text = Array(String(repeating: "plain output line\n", count: 100).utf8)
        text.withUnsafeBytes { input in
            let out = r.feed(input, now: 0)
            #expect(out.baseAddress == input.baseAddress && out.count == input.count)
        }
    }

    // MARK: - Bounds on holding back

    @Test func aPromptWithoutNewlineIsNotHeld() {
        let r = OutputRedactor()
        #expect(r.feed(Array("Password: ".utf8), now: 5) == Array("Password: ".utf8))
        #expect(r.heldBytes == 0 && r.holdDeadline == nil)
    }

    @Test func aPossibleStartIsReleasedAtItsDeadline() {
        let r = OutputRedactor()
        let t0: Int64 = 1_000_000_000
        #expect(String(decoding: r.feed(Array("Password for postgres:".utf8), now: t0), as: UTF8.self) == "Password for postgres")
        #expect(r.heldBytes == 1)
        #expect(r.holdDeadline == t0 + OutputRedactor.defaultHoldNanoseconds)
        #expect(r.flushExpired(now: t0 + OutputRedactor.defaultHoldNanoseconds - 1).isEmpty)
        #expect(Array(r.flushExpired(now: t0 + OutputRedactor.defaultHoldNanoseconds)) == Array(":".utf8))
        #expect(r.heldBytes == 0 && r.holdDeadline == nil)
        #expect(Array(r.flush()).isEmpty)
    }

    @Test func theDeadlineCountsFromTheFirstHeldByte() {
        let r = OutputRedactor(holdNanoseconds: 50)
        #expect(r.feed(Array("export KEY=sk-a".utf8), now: 0) == Array("export KEY=".utf8))
        #expect(r.feed(Array("bc".utf8), now: 30).isEmpty)
        #expect(r.holdDeadline == 50)
        #expect(Array(r.flushExpired(now: 50)) == Array("sk-abc".utf8))
        // A write after the deadline releases what was held first.
        #expect(r.feed(Array(" ok sk-x".utf8), now: 60) == Array(" ok ".utf8))
        #expect(r.feed(Array("y".utf8), now: 200) == Array("sk-xy".utf8))
    }

    @Test func aLongLineWithoutNewlineIsEmittedProgressively() {
        // Plain text: nothing is held at all between writes.
        var rng = RedactorRandom(seed: 3)
        let line = Array(String(repeating: "progress 45% [=====>    ] eta 3s ", count: 3000).utf8)
        let r = OutputRedactor()
        var out: [UInt8] = []
        for c in rng.chunks(line, maxChunk: 100) {
            out += r.feed(c)
            #expect(r.heldBytes <= 1)
        }
        #expect(out + Array(r.flush()) == line)

        // A URL that might still get its '@': held, but never more than the bound.
        let url = Array(("x://user:" + String(repeating: "p", count: 2000)).utf8)
        let small = OutputRedactor(holdBytes: 64)
        var emitted = 0
        var fed = 0
        for c in rng.chunks(url, maxChunk: 10) {
            emitted += small.feed(c).count
            fed += c.count
            #expect(small.heldBytes <= 64)
            #expect(emitted >= fed - 64)
        }
        emitted += small.flush().count
        #expect(emitted == url.count)
    }

    // MARK: - Findings and near misses

    @Test func findingsCountEachKind() {
        let text = """
        one sk-\(String(repeating: "a", count: 24)) two sk-\(String(repeating: "b", count: 30))
        aws AKIAIOSFODNN7EXAMPLE gh ghp_\(String(repeating: "c", count: 36))
        db postgres://u:pw@h/x env the-env-value-1 and the-env-value-1
        -----BEGIN PRIVATE KEY-----
        MIIB
        -----END PRIVATE KEY-----

        """
        let r = OutputRedactor(literals: ["the-env-value-1"])
        var rng = RedactorRandom(seed: 11)
        let out = String(decoding: r.redact(rng.chunks(Array(text.utf8), maxChunk: 9)), as: UTF8.self)
        #expect(r.findings == [.apiKey: 2, .awsAccessKey: 1, .githubToken: 1, .databaseURL: 1, .envSecret: 2, .privateKey: 1])
        #expect(r.redactions == 8)
        #expect(!out.contains("MIIB") && !out.contains("pw@") && !out.contains("the-env-value"))
    }

    static let nearMisses = [
        "sk-" + String(repeating: "a", count: 19),
        "AKIA" + String(repeating: "B", count: 15),
        "AKIA" + String(repeating: "B", count: 17),
        "AKIA" + String(repeating: "B", count: 16) + "x",
        "xAKIA" + String(repeating: "B", count: 16),
        "task-" + String(repeating: "c", count: 40),
        "ask-" + String(repeating: "c", count: 40),
        "ghp_" + String(repeating: "d", count: 35),
        "ghx_" + String(repeating: "d", count: 40),
        "github_pat_" + String(repeating: "e", count: 21),
        "-----BEGIN RSA PUBLIC KEY-----",
    ]

    @Test(arguments: nearMisses)
    func nearMissesAreNotSecrets(text: String) {
        #expect(SecretScanner.scan(Array(text.utf8)).isEmpty)
        let line = "= \(text) =\n"
        for k in 0...line.utf8.count { #expect(redacted(line, at: [k]) == line, "split at \(k)") }
    }

    // MARK: - Against the scanner at once

    /// Documents made of pattern fragments, so that secrets, near misses and cut patterns
    /// occur often.
    static func soup(_ rng: inout RedactorRandom, length: Int) -> [UInt8] {
        let parts = ["sk-", "ghp_", "gho_", "github_pat_", "AKIA", "ASIA", "-----BEGIN ", "RSA ", "PRIVATE KEY",
                     "-----", "-----END ", "://", "postgres", "user", ":", "@", "/", " ", "\n", "-", "_", "x",
                     "=", "A", "s", "g", "EXAMPLE", "0123456789"]
        var out: [UInt8] = []
        while out.count < length {
            switch rng.below(4) {
            case 0: out += rng.bytes(1 + rng.below(3))
            case 1:
                let alnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
                out += (0..<(1 + rng.below(40))).map { _ in rng.pick(alnum) }
            default: out += Array(rng.pick(parts).utf8)
            }
        }
        return out
    }

    @Test func scanFindsWhatTheScannerFoundBefore() {
        var rng = RedactorRandom(seed: 2024)
        for round in 0..<3000 {
            let doc = Self.soup(&rng, length: rng.below(400))
            #expect(SecretScanner.scan(doc) == SecretScannerOracle.scan(doc), "round \(round)")
        }
    }

    @Test func streamedRedactionEqualsRedactionAtOnce() {
        var rng = RedactorRandom(seed: 99)
        var matched = 0
        for round in 0..<3000 {
            let doc = Self.soup(&rng, length: rng.below(400))
            let expected = redactedAtOnce(doc)
            if expected != doc { matched += 1 }
            let chunks = rng.chunks(doc, maxChunk: 1 + rng.below(60))
            #expect(OutputRedactor().redact(chunks) == expected, "round \(round)")
        }
        #expect(matched > 300)  // the soup does make secrets
    }

    @Test func streamedRedactionWithLiteralsEqualsOneWrite() {
        var rng = RedactorRandom(seed: 5)
        let literals = ["AKIA-not-a-key", "postgres-secret", "user:pass-word", "12345678"]
        for round in 0..<2000 {
            var doc = Self.soup(&rng, length: rng.below(300))
            doc.insert(contentsOf: Array(rng.pick(literals).utf8), at: rng.below(doc.count + 1))
            let once = OutputRedactor(literals: literals).redact([doc])
            let chunks = rng.chunks(doc, maxChunk: 1 + rng.below(40))
            #expect(OutputRedactor(literals: literals).redact(chunks) == once, "round \(round)")
        }
    }
}
