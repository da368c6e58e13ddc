import Foundation
import Testing

@testable import MPMRun

/// Redaction throughput, as a ratio to memcpy measured in the same run. Not a unit test:
/// skipped unless MPM_BENCH=1, and meaningful only in a release build:
///
///     MPM_BENCH=1 swift test -c release --filter OutputRedactorBenchmark
///
/// MPM_BENCH_BYTES sets the bytes per measure (default 1 GiB, best of 3, in 64 KiB writes
/// as the supervisor reads them); MPM_BENCH_OUT names a file to append the result lines to.
/// Times are the thread's CPU time.
@Suite struct OutputRedactorBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["MPM_BENCH"] == "1"
    static let chunk = 64 << 10

    struct Corpus {
        var name: String
        var bytes: [UInt8]
    }

    /// The repository's own sources and documents: real text and code. Files in which the
    /// scanner finds something (its own comments show a private key header) are left out.
    static func sourceText() throws -> [UInt8] {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        var out: [UInt8] = []
        var urls: [URL] = [root.appendingPathComponent("README.md")]
        let files = FileManager.default.enumerator(at: root.appendingPathComponent("Sources"), includingPropertiesForKeys: nil)
        while let url = files?.nextObject() as? URL {
            if ["swift", "c", "h", "md"].contains(url.pathExtension) { urls.append(url) }
        }
        for url in urls {
            guard let data = try? Data(contentsOf: url) else { continue }
            let bytes = [UInt8](data)
            if SecretScanner.scan(bytes).isEmpty { out += bytes }
        }
        return out
    }

    /// Everyday English words for log messages; a few hold a pair the filter stops at
    /// (`right`, `skip`, `task`).
    static let plainWords = ["the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by",
                             "at", "from", "it", "an", "be", "this", "which", "or", "are", "request", "served",
                             "session", "started", "cache", "user", "file", "written", "retry", "status", "step",
                             "build", "output", "after", "worker", "queue", "done", "right", "skipped", "task",
                             "connection", "closed", "opened", "reading", "config", "loaded", "value", "error"]

    /// Words chosen so that the filter stops every 46 bytes or so: a worst case for text.
    static let denseWords = ["the", "request", "served", "in", "session", "started", "stage", "gather", "signal",
                             "socket", "skipped", "through", "right", "Always", "Agent", "ghost", "task-runner",
                             "cache", "miss", "build", "step", "output", "written", "to", "file", "after", "retry",
                             "with", "status", "sky", "ask", "risk", "desk", "github", "AWS", "--verbose", "-v",
                             "user", "password", "set"]

    /// Log lines: timestamps, levels, words, key=value pairs, paths, URLs without
    /// credentials.
    static func logLines(_ rng: inout RedactorRandom, words: [String], count: Int) -> [UInt8] {
        let levels = ["INFO", "DEBUG", "WARN", "ERROR"]
        var out: [UInt8] = []
        var line = 0
        while out.count < count {
            line += 1
            var s = "2025-06-0\(1 + rng.below(9))T12:\(10 + rng.below(50)):\(10 + rng.below(50)).\(rng.below(1000))Z \(rng.pick(levels)) "
            for _ in 0..<(4 + rng.below(10)) { s += rng.pick(words) + " " }
            switch rng.below(4) {
            case 0: s += "path=/var/lib/agent/\(rng.below(100000))/out.json"
            case 1: s += "url=https://api.example.com:443/v1/items?id=\(rng.below(1 << 20))"
            case 2: s += "duration_ms=\(rng.below(5000)) bytes=\(rng.below(1 << 30))"
            default: s += "id=\(String(rng.next(), radix: 16)) attempt=\(rng.below(5))"
            }
            out += Array((s + "\n").utf8)
        }
        return out
    }

    static func corpora() throws -> [Corpus] {
        var rng = RedactorRandom(seed: 1)
        let size = 8 << 20
        func fill(_ seed: [UInt8]) throws -> [UInt8] {
            try #require(!seed.isEmpty)
            var out: [UInt8] = []
            out.reserveCapacity(size + seed.count)
            while out.count < size { out += seed }
            return Array(out[..<size])
        }
        return [
            Corpus(name: "repository sources", bytes: try fill(try sourceText())),
            Corpus(name: "log lines", bytes: logLines(&rng, words: plainWords, count: size)),
            Corpus(name: "dense log lines (a filter stop every ~46 bytes)", bytes: logLines(&rng, words: denseWords, count: size)),
            Corpus(name: "random binary", bytes: rng.bytes(size)),
        ]
    }

    /// This thread's CPU time: other builds on a 2-core machine stretch wall time, not this.
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// GiB/s of `body` run over `total` bytes of `corpus` in 64 KiB chunks; the best of 3.
    static func measure(_ corpus: [UInt8], total: Int, _ body: (UnsafeRawBufferPointer) -> Int) -> (Double, Int) {
        var best = 0.0
        var check = 0
        corpus.withUnsafeBytes { all in
            for _ in 0..<3 {
                let start = now()
                var done = 0
                var offset = 0
                check = 0
                while done < total {
                    if offset + chunk > all.count { offset = 0 }
                    check &+= body(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + chunk)]))
                    offset += chunk
                    done += chunk
                }
                let seconds = Double(now() - start) / 1e9
                best = max(best, Double(total) / seconds / Double(1 << 30))
            }
        }
        return (best, check)
    }

    @Test(.enabled(if: enabled)) func throughput() throws {
        let total = Int(ProcessInfo.processInfo.environment["MPM_BENCH_BYTES"] ?? "") ?? (1 << 30)
        let sink = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 64)
        defer { sink.deallocate() }
        var lines: [String] = []
        for corpus in try Self.corpora() {
            let (copy, _) = Self.measure(corpus.bytes, total: total) { c in
                sink.copyMemory(from: c.baseAddress!, byteCount: c.count)
                return Int(sink.load(fromByteOffset: c.count - 1, as: UInt8.self))
            }
            for literals in [[], ["sk-ant-api03-notreallyakey0123456789", "Zq9!value#42"]] {
                let redactor = OutputRedactor(literals: literals)
                let (speed, emitted) = Self.measure(corpus.bytes, total: total) { c in
                    redactor.feed(c, now: 0).count
                }
                let line = "redact \(corpus.name)\(literals.isEmpty ? "" : ", \(literals.count) literals"): "
                    + String(format: "%.2f GiB/s, memcpy %.2f GiB/s, ratio %.3f", speed, copy, speed / copy)
                    + " (emitted \(emitted) of \(total) bytes, \(redactor.redactions) redactions)"
                print(line)
                lines.append(line)
            }
        }
        if let path = ProcessInfo.processInfo.environment["MPM_BENCH_OUT"] {
            let text = lines.joined(separator: "\n") + "\n"
            if let handle = FileHandle(forWritingAtPath: path) {
                handle.seekToEndOfFile()
                handle.write(Data(text.utf8))
                handle.closeFile()
            } else {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
        }
    }
}
