import Glibc
import Synchronization
import Testing

@testable import MPMRun

/// The pool of read buffers that supervisors borrow for one read at a time.
@Suite("Read buffers")
struct ReadBuffersTests {
    /// Sixteen threads borrow at once, each filling its buffer with its own byte and checking it
    /// after the others have run: a buffer lent twice at the same time would be overwritten.
    /// Afterwards the pool keeps no more than its bound.
    @Test func aBufferIsNeverLentTwiceAtOnceAndTheSparesAreBounded() {
        let threads = 16
        let rounds = 200
        let clashes = Atomic<Int>(0)
        Threads.together(iterations: threads) { t in
            let mark = UInt8(truncatingIfNeeded: t + 1)
            for _ in 0..<rounds {
                ReadBuffers.withBuffer { buffer in
                    #expect(buffer.count == ReadBuffers.byteCount)
                    buffer.initializeMemory(as: UInt8.self, repeating: mark)
                    sched_yield()
                    if !buffer.allSatisfy({ $0 == mark }) { clashes.add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(clashes.load(ordering: .relaxed) == 0)
        #expect(ReadBuffers.spareCount <= ReadBuffers.spareLimit)
    }
}

/// Runs `body` on `iterations` threads of its own at once (Dispatch would use one a core).
private enum Threads {
    static func together(iterations: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable (Int) -> Void
            let index: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
        }
        var threads: [pthread_t] = []
        for i in 0..<iterations {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(Box(body, i)).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body(box.index)
                return nil
            }, box)
            precondition(rc == 0, "pthread_create: \(rc)")
            threads.append(thread)
        }
        for t in threads { pthread_join(t, nil) }
    }
}
