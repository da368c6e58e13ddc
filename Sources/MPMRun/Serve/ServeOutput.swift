import CLauncher
import Glibc
import Synchronization

/// serve's stdout: every line from every run and every response goes through one queue,
/// written by one thread, so lines never interleave. Writers never block: a run whose
/// lines are not yet written past `perRunLimit` (or all runs, past `totalLimit`) is
/// `backlogged`, and its supervisor stops reading the agent's pipes until the writer
/// catches up and wakes it. Memory stays bounded by the limits (plus one read chunk per
/// run) however slowly the orchestrator reads, and no byte is dropped.
final class ServeOutput: Sendable {
    static let perRunLimit = 256 << 10
    static let totalLimit = 4 << 20
    /// Lines gathered into one write(2).
    static let batchBytes = 256 << 10

    struct State {
        var lines: [(channel: Int, bytes: [UInt8])] = []
        var head = 0
        /// Bytes queued and not yet written: per channel and in all.
        var pending: [Int: Int] = [:]
        var total = 0
        /// Channels that were told they are backlogged, with the fd that wakes each.
        var waiting: [Int: Int32] = [:]
        /// The reader is gone (EPIPE): lines are dropped and nobody is backlogged.
        var broken = false
        var closing = false
        var writing = false
        var nextChannel = 1
    }

    private let state = Mutex(State())
    /// Wakes the writer thread.
    private let wake = mpm_eventfd()
    /// Readable once stdout is broken: the server polls it.
    let brokenFD = mpm_eventfd()
    /// Readable once the queue is empty after `close()`.
    let drainedFD = mpm_eventfd()
    let fd: Int32

    init(fd: Int32 = 1) {
        self.fd = fd
    }

    deinit {
        for f in [wake, brokenFD, drainedFD] where f >= 0 { Glibc.close(f) }
    }

    /// A run's own view of the queue, with the eventfd that wakes its supervisor.
    func channel() -> Channel {
        Channel(queue: self, id: state.withLock { s in defer { s.nextChannel += 1 }; return s.nextChannel })
    }

    /// Queues a line (channel 0: responses, never backlogged).
    func post(_ line: [UInt8], channel: Int = 0) {
        let post = state.withLock { s -> Bool in
            guard !s.broken else { return false }
            s.lines.append((channel, line))
            s.pending[channel, default: 0] += line.count
            s.total += line.count
            return true
        }
        if post { mpm_eventfd_signal(wake) }
    }

    func isBacklogged(_ channel: Int, resumeFD: Int32) -> Bool {
        state.withLock { s in
            guard !s.broken else { return false }
            let full = (s.pending[channel] ?? 0) > Self.perRunLimit || s.total > Self.totalLimit
            if full { s.waiting[channel] = resumeFD }
            return full
        }
    }

    var isBroken: Bool { state.withLock { $0.broken } }

    /// Bytes queued and not yet written (for tests of the bound and `status`).
    var queuedBytes: Int { state.withLock { $0.total } }

    func forget(_ channel: Int) {
        state.withLock { s in _ = s.waiting.removeValue(forKey: channel) }
    }

    /// No more lines will come: the writer ends once the queue is empty.
    func close() {
        state.withLock { $0.closing = true }
        mpm_eventfd_signal(wake)
    }

    /// The writer thread's body: returns after `close()` once everything is written (or
    /// stdout is broken).
    func runWriter() {
        var batch: [UInt8] = []
        batch.reserveCapacity(Self.batchBytes + 4096)
        while true {
            var written: [Int: Int] = [:]
            let (done, hasWork) = state.withLock { s -> (Bool, Bool) in
                batch.removeAll(keepingCapacity: true)
                while s.head < s.lines.count && (batch.isEmpty || batch.count + s.lines[s.head].bytes.count <= Self.batchBytes) {
                    let line = s.lines[s.head]
                    batch.append(contentsOf: line.bytes)
                    written[line.channel, default: 0] += line.bytes.count
                    s.lines[s.head].bytes = []
                    s.head += 1
                }
                if s.head == s.lines.count {
                    s.lines.removeAll(keepingCapacity: s.lines.capacity <= 4096)
                    s.head = 0
                } else if s.head > 4096 {
                    s.lines.removeFirst(s.head)
                    s.head = 0
                }
                return (s.closing && batch.isEmpty, !batch.isEmpty)
            }
            if done { break }
            if !hasWork {
                var p = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, -1)
                mpm_eventfd_clear(wake)
                continue
            }
            let ok = writeAll(batch)
            // Readers are woken under the lock: a channel forgets its wake-up descriptor (under
            // this lock) before closing it, so the number cannot meanwhile name another file
            // that the 8 bytes of the wake-up would be written to.
            state.withLock { s in
                for (channel, n) in written {
                    let left = (s.pending[channel] ?? 0) - n
                    s.pending[channel] = left > 0 ? left : nil  // a long-lived serve keeps no entry per past run
                    s.total -= n
                }
                if !ok {
                    s.broken = true
                    s.lines.removeAll()
                    s.head = 0
                    s.pending.removeAll()
                    s.total = 0
                }
                for (channel, fd) in s.waiting
                where s.broken || ((s.pending[channel] ?? 0) <= Self.perRunLimit && s.total <= Self.totalLimit) {
                    mpm_eventfd_signal(fd)
                    s.waiting[channel] = nil
                }
            }
            if !ok { mpm_eventfd_signal(brokenFD) }
        }
        mpm_eventfd_signal(drainedFD)
    }

    /// Blocking write of the whole batch; false when the reader is gone.
    private func writeAll(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeFully(fd, $0) }
    }

    /// The lines of one run: `JSONLinesReporter` writes through it.
    final class Channel: JSONLineOutput, @unchecked Sendable {
        let queue: ServeOutput
        let id: Int
        let resumeFD = mpm_eventfd()

        init(queue: ServeOutput, id: Int) {
            self.queue = queue
            self.id = id
        }

        deinit {
            queue.forget(id)
            if resumeFD >= 0 { Glibc.close(resumeFD) }
        }

        func write(line: [UInt8]) { queue.post(line, channel: id) }

        var backlogged: Bool {
            // Cleared before asking: a wake-up after this point leaves it readable.
            mpm_eventfd_clear(resumeFD)
            return queue.isBacklogged(id, resumeFD: resumeFD)
        }
    }
}
