import CLauncher
import Glibc
import Testing

/// `mpm_trim_thread_stack`, which serve's run threads call once their launch is done.
@Suite("Thread stack trim")
struct StackTrimTests {
    /// On a thread of a known 1 MiB stack, the trim is called at 256 depths 16 bytes apart (every
    /// place in a page its frame can be), each time after the stack's deep pages were written:
    /// the thread goes on (had the trim given back a page its live frames were on, it would
    /// return to address 0 and crash the test), the deep pages are gone, and the thread's
    /// current page is still resident.
    @Test func trimmingAtEveryDepthKeepsTheLiveFramesAndDropsTheDeepPages() throws {
        let page = sysconf(Int32(_SC_PAGESIZE))
        let size = 1 << 20
        let stack = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0))
        #expect(stack != MAP_FAILED)
        defer { munmap(stack, size) }
        let box = Unmanaged.passRetained(TrimTrial(low: stack, size: size, page: page)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstack(&attr, stack, size)
        var thread = pthread_t()
        #expect(pthread_create(&thread, &attr, { raw in
            Unmanaged<TrimTrial>.fromOpaque(raw!).takeUnretainedValue().run()
            return nil
        }, box) == 0)
        pthread_join(thread, nil)
        let trial = Unmanaged<TrimTrial>.fromOpaque(box).takeRetainedValue()
        #expect(trial.trims == 256)
        #expect(trial.failures.isEmpty, "\(trial.failures.prefix(5))")
        // The main thread's stack is left alone.
        #expect(mpm_trim_thread_stack() == 0)
    }
}

private final class TrimTrial: @unchecked Sendable {
    let low: UnsafeMutableRawPointer
    let size: Int
    let page: Int
    var trims = 0
    var failures: [String] = []

    init(low: UnsafeMutableRawPointer, size: Int, page: Int) {
        self.low = low
        self.size = size
        self.page = page
    }

    func run() {
        for step in 0..<256 {
            // 0 to 3 KiB, then 0 to 1008 bytes more: the trim's frame lands 16 bytes further
            // down each step, across a whole page.
            nested(kilobytes: step / 64) {
                withUnsafeTemporaryAllocation(byteCount: (step % 64) * 16 + 16, alignment: 16) { pad in
                    pad.storeBytes(of: UInt8(step & 0xFF), toByteOffset: 0, as: UInt8.self)
                    trimAndCheck(step)
                }
            }
        }
    }

    private func nested(kilobytes: Int, _ body: () -> Void) {
        guard kilobytes > 0 else { return body() }
        withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 16) { pad in
            pad.storeBytes(of: UInt8(kilobytes), toByteOffset: 0, as: UInt8.self)
            nested(kilobytes: kilobytes - 1, body)
        }
    }

    private func trimAndCheck(_ step: Int) {
        // The deep half of the stack, written: as a launch leaves it.
        let deep = UnsafeMutableRawBufferPointer(start: low + page, count: size / 2 - page)
        for offset in stride(from: 0, to: deep.count, by: page) { deep[offset] = 1 }
        let rc = mpm_trim_thread_stack()
        trims += 1
        if rc != 0 { failures.append("step \(step): \(rc)") }
        var here: UInt8 = 0
        let resident = withUnsafeMutablePointer(to: &here) { p -> (deep: Int, current: Bool) in
            var vector = [UInt8](repeating: 0, count: deep.count / page)
            _ = mincore(deep.baseAddress, deep.count, &vector)
            var mine: UInt8 = 0
            let pageStart = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: p) & ~UInt(page - 1))
            _ = mincore(pageStart, 1, &mine)
            return (vector.filter { $0 & 1 != 0 }.count, mine & 1 != 0)
        }
        if resident.deep != 0 || !resident.current {
            failures.append("step \(step): \(resident.deep) deep pages resident, current page resident: \(resident.current)")
        }
    }
}
