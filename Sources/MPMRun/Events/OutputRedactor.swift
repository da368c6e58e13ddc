/// Replaces secrets in one output stream of a run (the agent's stdout, or its stderr) by
/// `[REDACTED:<kind>]` as the stream is relayed: the patterns of `SecretScanner`, plus exact
/// values that the run passed to the agent (`[REDACTED:env_secret]`).
///
/// A write of the agent can end in the middle of a secret, so the redactor holds back the
/// tail of a write that may still become one: only from the first position where a pattern
/// has begun and the write ended before it could tell (`sk-abc`, `postgres://u:p`, the first
/// bytes of a literal). Held bytes are released as soon as the next write decides, and never
/// later than:
///
/// - the end of their line: no pattern spans a line break, so a newline always decides;
/// - `holdBytes` (512 by default): a held tail longer than that gives up on its first
///   pattern. A token that has reached its minimum length (`sk-` and 20 bytes, `ghp_` and 36)
///   is redacted at once and the rest of it dropped as it arrives, so it is never held; what is
///   held is an unfinished start (at most 40 bytes for tokens, 80 for a private key header)
///   or a URL's `user:password` before its `@` (the scanner allows a 256-byte user and a
///   512-byte password, real ones are far shorter). A literal longer than the bound raises it
///   to the literal's length;
/// - `holdNanoseconds` (50 ms by default) after they arrived: the caller polls with
///   `holdDeadline` and calls `flushExpired(now:)`, so a prompt that ends like the start of a
///   pattern (`Password for postgres:`) shows within that time; most (`Password: `) are not
///   held at all. Held bytes released this way are redacted as if the stream ended there: a
///   secret written in two parts more than the time bound apart is not recognised.
///
/// A private key block is stateful: once its `-----BEGIN ... PRIVATE KEY-----` line is seen,
/// `[REDACTED:private_key]` is emitted once and everything up to its END line is dropped,
/// across any number of writes (at most `SecretScanner.maxSecretLength` bytes, as `scan`).
///
/// One instance per stream, used from one thread. A write without secrets, after one that
/// left nothing held, is neither copied nor allocated for: the result points into the
/// caller's bytes. Other writes are assembled in buffers the redactor reuses (one copy).
public final class OutputRedactor {
    public static let defaultHoldBytes = 512
    public static let defaultHoldNanoseconds: Int64 = 50_000_000

    /// What was redacted so far, by kind: one count per secret (a private key block counts
    /// once). The secrets themselves are never kept.
    public private(set) var findings: [SecretScanner.Kind: Int] = [:]

    /// The total of `findings`.
    public private(set) var redactions = 0

    /// When the held-back bytes must be released (CLOCK_MONOTONIC nanoseconds, as passed to
    /// `feed`), or nil when nothing is held. Poll the stream no longer than this and call
    /// `flushExpired(now:)`.
    public var holdDeadline: Int64? {
        if case .normal = state, carryCount > 0 { return heldSince + holdNanoseconds }
        return nil
    }

    /// How many bytes are held back for output now (the dropped inside of a private key
    /// block does not count).
    public var heldBytes: Int {
        if case .normal = state { return carryCount }
        return 0
    }

    /// The bound on held bytes in effect (`holdBytes`, or the longest literal if longer).
    public let holdBytes: Int
    public let holdNanoseconds: Int64

    private enum State {
        case normal
        /// Dropping the rest of a token that was redacted when a write cut it.
        case token(SecretScanner.TokenClass)
        /// Inside a private key block; `budget`: how many more positions its END may start at.
        case privateKey(budget: Int)
    }

    private let matcher: SecretScanner.Matcher
    /// What each kind of secret is replaced with: the same for every redactor (a run has two,
    /// and serve keeps a thousand runs).
    private static let replacements: [SecretScanner.Kind: [UInt8]] = {
        var r: [SecretScanner.Kind: [UInt8]] = [:]
        for kind in SecretScanner.Kind.allCases { r[kind] = Array("[REDACTED:\(kind.rawValue)]".utf8) }
        return r
    }()
    private var state = State.normal
    /// The byte before the first one not yet consumed (-1 at the start of the stream).
    private var before = -1
    private var heldSince: Int64 = 0

    /// Held-back bytes (in a private key block: a possible start of its END line).
    /// Allocated at the first hold: most of a quiet run's redactors never hold anything.
    private var carry: UnsafeMutablePointer<UInt8>?
    private let carryCapacity: Int
    private var carryCount = 0
    /// Held bytes followed by a new write, scanned as one window.
    private var work: UnsafeMutablePointer<UInt8>
    private var workCapacity = 0
    /// Output that is not one piece of a window.
    private var out: UnsafeMutablePointer<UInt8>
    private var outCapacity = 0
    private var outCount = 0
    /// Output that is one piece of a window (the caller's bytes or `work`): returned as is.
    private var single: UnsafePointer<UInt8>?
    private var singleCount = 0
    private var buffered = false

    /// - Parameter literals: exact secret values the run passed to the agent. A value with
    ///   line breaks is matched line by line; values and lines shorter than 8 bytes are not
    ///   matched (too likely to occur by chance), nor lines longer than
    ///   `SecretScanner.maxSecretLength`.
    public init(literals: [String] = [], holdBytes: Int = OutputRedactor.defaultHoldBytes,
                holdNanoseconds: Int64 = OutputRedactor.defaultHoldNanoseconds) {
        var pieces: [[UInt8]] = []
        for literal in literals {
            for line in literal.utf8.split(separator: UInt8(ascii: "\n")) {
                var bytes = Array(line)
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                if bytes.count >= 8, bytes.count <= SecretScanner.maxSecretLength, !pieces.contains(bytes) {
                    pieces.append(bytes)
                }
            }
        }
        // Without literals, the built-in patterns' matcher, made once, is shared.
        matcher = pieces.isEmpty ? SecretScanner.Matcher.standard : SecretScanner.Matcher(literals: pieces)
        self.holdBytes = max(1, holdBytes, pieces.map(\.count).max() ?? 0)
        self.holdNanoseconds = holdNanoseconds
        // A private key block holds at most a partial END line: 9 + 64 + 4 bytes.
        carryCapacity = max(self.holdBytes, 128)
        work = .allocate(capacity: 0)
        out = .allocate(capacity: 0)
    }

    deinit {
        carry?.deallocate()
        work.deallocate()
        out.deallocate()
    }

    /// Takes the next write of the stream and returns what may be shown now, redacted.
    ///
    /// The result is valid until the next call on this redactor, and, since it may point into
    /// `bytes`, only as long as `bytes` is. Held bytes whose deadline has passed are released
    /// first, as `flushExpired(now:)` would.
    /// - Parameter now: CLOCK_MONOTONIC in nanoseconds.
    public func feed(_ bytes: UnsafeRawBufferPointer, now: Int64) -> UnsafeRawBufferPointer {
        beginOutput()
        if let deadline = holdDeadline, now >= deadline { release() }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return output }
        let input = base.assumingMemoryBound(to: UInt8.self)
        if carryCount == 0 {
            process(SecretScanner.Window(base: input, count: bytes.count, before: before, final: false),
                    carried: 0, now: now)
        } else {
            let carried = carryCount
            let total = carried + bytes.count
            prepareWork(total)
            work.update(from: carry!, count: carried)
            (work + carried).update(from: input, count: bytes.count)
            carryCount = 0
            process(SecretScanner.Window(base: work, count: total, before: before, final: false),
                    carried: carried, now: now)
        }
        return output
    }

    /// Releases the held bytes if their deadline has passed (redacted as if the stream ended
    /// there); otherwise returns nothing. Same lifetime as `feed`'s result.
    public func flushExpired(now: Int64) -> UnsafeRawBufferPointer {
        beginOutput()
        if let deadline = holdDeadline, now >= deadline { release() }
        return output
    }

    /// The end of the stream: releases everything held, redacted. The redactor can then
    /// take a new stream. Same lifetime as `feed`'s result.
    public func flush() -> UnsafeRawBufferPointer {
        beginOutput()
        if case .normal = state { release() }
        // An unfinished private key block stays dropped.
        state = .normal
        carryCount = 0
        before = -1
        return output
    }

    // MARK: - Scanning

    /// Scans the held bytes as the last ones of the stream and emits them.
    private func release() {
        guard carryCount > 0 else { return }
        let count = carryCount
        prepareWork(count)
        work.update(from: carry!, count: count)
        carryCount = 0
        process(SecretScanner.Window(base: work, count: count, before: before, final: true), carried: count, now: 0)
    }

    /// Emits a window, redacted, and keeps what must wait for the next write.
    /// - Parameter carried: how many of the window's first bytes were held from before.
    private func process(_ w: SecretScanner.Window, carried: Int, now: Int64) {
        let n = w.count
        var pos = 0
        switch state {
        case .normal:
            break
        case .token(let cls):
            let k = w.run(from: 0, limit: n, while: cls.contains)
            if k == n && !w.final {
                before = Int(w[n - 1])
                return
            }
            state = .normal
            pos = k
        case .privateKey(let budget):
            guard let resume = dropPrivateKey(w, from: 0, budget: budget, now: now) else { return }
            pos = resume
        }
        var emitFrom = pos
        while true {
            switch matcher.next(w, from: pos) {
            case .none:
                emit(w.base + emitFrom, n - emitFrom)
                if n > 0 { before = Int(w[n - 1]) }
                return
            case .needMore(let u):
                if n - u > holdBytes {
                    // Held too long a run already: give this start up, look further.
                    pos = u + 1
                    continue
                }
                emit(w.base + emitFrom, u - emitFrom)
                hold(w, from: u, now: u < carried ? nil : now)
                return
            case .match(let kind, let range, let following, let resume):
                emit(w.base + emitFrom, range.lowerBound - emitFrom)
                redacted(kind)
                if kind == .privateKey {
                    let budget = SecretScanner.maxSecretLength - range.count
                    guard let end = dropPrivateKey(w, from: range.upperBound, budget: budget, now: now) else { return }
                    emitFrom = end
                    pos = end
                    continue
                }
                var end = range.upperBound
                if let cls = following {
                    // The token may go on past the scanner's length limit or the window.
                    end = w.run(from: end, limit: n - end, while: cls.contains)
                    if end == n && !w.final {
                        state = .token(cls)
                        before = Int(w[n - 1])
                        return
                    }
                }
                emitFrom = end
                pos = max(resume, end)
            }
        }
    }

    /// Drops a private key block's body from `from`. Returns where output resumes, or nil
    /// when the block goes on past the window.
    private func dropPrivateKey(_ w: SecretScanner.Window, from: Int, budget: Int, now: Int64) -> Int? {
        switch SecretScanner.privateKeyEnd(w, from: from, limit: from + budget) {
        case .end(let e):
            state = .normal
            return e
        case .needMore(let j):
            state = .privateKey(budget: budget - (j - from))
            hold(w, from: j, now: now)
            return nil
        case .continues:
            state = .privateKey(budget: budget - (w.count - from))
            before = Int(w[w.count - 1])
            return nil
        }
    }

    /// Keeps the window's bytes from `u` for the next write. `now`: when they started to
    /// be held, or nil if they already were.
    private func hold(_ w: SecretScanner.Window, from u: Int, now: Int64?) {
        let count = w.count - u
        precondition(count <= carryCapacity, "OutputRedactor: held tail over its bound")
        if carry == nil { carry = .allocate(capacity: carryCapacity) }
        carry!.update(from: w.base + u, count: count)
        carryCount = count
        before = w.previous(u)
        if let now { heldSince = now }
    }

    private func redacted(_ kind: SecretScanner.Kind) {
        findings[kind, default: 0] += 1
        redactions += 1
        materialize()
        Self.replacements[kind]!.withUnsafeBufferPointer { append($0.baseAddress!, $0.count) }
    }

    // MARK: - Output

    private var output: UnsafeRawBufferPointer {
        if buffered { return UnsafeRawBufferPointer(start: out, count: outCount) }
        if let single { return UnsafeRawBufferPointer(start: single, count: singleCount) }
        return UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private func beginOutput() {
        single = nil
        singleCount = 0
        buffered = false
        outCount = 0
    }

    @inline(__always) private func emit(_ p: UnsafePointer<UInt8>, _ count: Int) {
        guard count > 0 else { return }
        if !buffered && single == nil {
            single = p
            singleCount = count
            return
        }
        materialize()
        append(p, count)
    }

    /// Switches to assembling the output in `out`, moving a single piece there, so that
    /// more can follow it or `work` can be reused.
    private func materialize() {
        guard !buffered else { return }
        buffered = true
        outCount = 0
        if let s = single {
            append(s, singleCount)
            single = nil
        }
    }

    private func append(_ p: UnsafePointer<UInt8>, _ count: Int) {
        if outCount + count > outCapacity {
            let capacity = max(outCount + count, outCapacity * 2, 4096)
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            grown.update(from: out, count: outCount)
            out.deallocate()
            out = grown
            outCapacity = capacity
        }
        (out + outCount).update(from: p, count: count)
        outCount += count
    }

    private func prepareWork(_ count: Int) {
        if single != nil { materialize() }  // the output may point into `work`
        guard count > workCapacity else { return }
        let capacity = max(count, workCapacity * 2)
        work.deallocate()
        work = .allocate(capacity: capacity)
        workCapacity = capacity
    }
}
