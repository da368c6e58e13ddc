import Glibc
import Synchronization

/// The threads that launch serve's runs, a few for all of them.
///
/// A run's init shares the thread-local storage of the thread that launched it and is killed
/// when that thread ends (its parent-death signal), so a launching thread must outlive its
/// runs: these live as long as serve. Each run is then watched by a thread of its own, which
/// did none of the launch's work. That matters for memory: glibc keeps, per thread, a cache of
/// the small blocks it freed, and a thread that had made a sandbox kept about 10 KiB of them
/// for as long as its run went on.
final class Launchers: @unchecked Sendable {
    /// Two a core, at most eight. A launch is mostly CPU in serve, but it also waits while its
    /// init and agent set up (`Runner.launchLock` serialises that step). Measured on 2 cores,
    /// 200 launches 16 at a time against a thread per run launching its own: 6% longer with
    /// one launch thread a core, 3% with two (noisy).
    static var defaultCount: Int { max(2, min(8, 2 * sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    private struct State {
        var queue: [@Sendable () -> Void] = []
        var head = 0
        var closed = false
    }

    private static let done: @Sendable () -> Void = {}

    private let state = Mutex(State())
    /// Counts the jobs queued (and, once closed, one wake-up a thread).
    private let ready = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []

    /// Starts `count` threads; nil (errno set) when not one could be started.
    init?(count: Int) {
        sem_init(ready, 0, 0)
        for i in 0..<count {
            guard let thread = Server.startThread(name: "mpm-run launch", stackSize: 1 << 20, { [self] in work() }) else {
                if i == 0 { return nil }  // deinit frees the semaphore
                break
            }
            threads.append(thread)
        }
    }

    deinit {
        sem_destroy(ready)
        ready.deallocate()
    }

    /// Queues `job` for the next free launch thread.
    func submit(_ job: @escaping @Sendable () -> Void) {
        state.withLock { $0.queue.append(job) }
        sem_post(ready)
    }

    /// Lets the threads end once the queue is empty, and waits for them.
    func close() {
        state.withLock { $0.closed = true }
        for _ in threads { sem_post(ready) }
        for thread in threads { pthread_join(thread, nil) }
        threads = []
    }

    private func work() {
        while true {
            while sem_wait(ready) != 0 && errno == EINTR {}
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                guard s.head < s.queue.count else { return nil }
                let job = s.queue[s.head]
                s.queue[s.head] = Self.done  // what the job holds goes with it, not with the queue
                s.head += 1
                if s.head == s.queue.count {
                    s.queue.removeAll(keepingCapacity: s.queue.count <= 64)
                    s.head = 0
                }
                return job
            }
            guard let job else {
                if state.withLock({ $0.closed }) { return }
                continue
            }
            job()
        }
    }
}

/// A started run, passed from the launch thread that started it to the run's own thread
/// (which waits for it); nil when the run did not start.
final class Handoff: @unchecked Sendable {
    private let ready = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private var run: Runner.Started?

    init() { sem_init(ready, 0, 0) }

    deinit {
        sem_destroy(ready)
        ready.deallocate()
    }

    /// Hands `run` over (the caller keeps no reference); whether there was one.
    @discardableResult
    func give(_ run: consuming Runner.Started?) -> Bool {
        let started = run != nil
        self.run = run
        sem_post(ready)
        return started
    }

    /// Waits for `give`; the handoff keeps nothing afterwards.
    func take() -> Runner.Started? {
        while sem_wait(ready) != 0 && errno == EINTR {}
        defer { run = nil }
        return run
    }
}
