import CLauncher
import Glibc
import Synchronization

/// What another thread may do to a run while it goes on: cancel it, and ask what it is
/// doing. `serve` holds one per run; the run's own thread owns everything else.
///
/// Cancelling kills the run's init at once through its pidfd (the whole run dies with it,
/// setsid grandchildren included) and wakes the run's supervisor, which records why. A
/// cancel that comes before the launch stops the launch from happening.
public final class RunControl: Sendable {
    public enum Phase: String, Sendable { case starting, running, exiting }

    struct State {
        var cancelled = false
        var phase = Phase.starting
        var pid: Int32 = 0
        /// The run's pidfd while its init is not yet reaped; -1 before and after.
        var pidfd: Int32 = -1
    }

    /// Readable once the run is cancelled: the supervisor polls it.
    let wakeFD: Int32
    private let state = Mutex(State())

    public init() {
        wakeFD = mpm_eventfd()
    }

    deinit { if wakeFD >= 0 { close(wakeFD) } }

    /// Cancels the run; false when it had already ended (or was cancelled before).
    @discardableResult
    public func cancel() -> Bool {
        let wasRunning = state.withLock { s -> Bool in
            guard !s.cancelled, s.phase != .exiting else { return false }
            s.cancelled = true
            if s.pidfd >= 0 { _ = mpm_pidfd_kill(s.pidfd, SIGKILL) }
            return true
        }
        if wasRunning { mpm_eventfd_signal(wakeFD) }
        return wasRunning
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }
    public var phase: Phase { state.withLock { $0.phase } }
    /// The run's init as the host sees it (0 until launched).
    public var pid: Int32 { state.withLock { $0.pid } }

    /// The run's init exists and its start is about to be announced: `status` shows it
    /// running. Returns false when a cancel came first (the agent must then not start).
    func starting(pid: Int32) -> Bool {
        state.withLock { s in
            s.pid = pid
            s.phase = .running
            return !s.cancelled
        }
    }

    /// The launched run: from now on a cancel kills it. Returns false when a cancel came first
    /// (the caller must then end the run itself).
    func attach(pid: Int32, pidfd: Int32) -> Bool {
        state.withLock { s in
            s.pid = pid
            s.pidfd = pidfd
            s.phase = .running
            return !s.cancelled
        }
    }

    /// Before the pidfd is closed: nobody may signal through it any more.
    func detach() {
        state.withLock { s in
            s.pidfd = -1
            s.phase = .exiting
        }
    }

    /// Clears the wake-up once the supervisor has seen it.
    func acknowledge() {
        mpm_eventfd_clear(wakeFD)
    }
}
