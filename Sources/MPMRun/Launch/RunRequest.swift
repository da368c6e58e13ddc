import CLauncher
import Glibc

/// One launch, as a front end asks for it.
public struct RunRequest: Sendable {
    public var agent: String
    public var args: [String] = []
    public var inputs: [String] = []
    public var outputDir: String?
    /// Can only shorten the policy's timeout.
    public var timeoutSeconds: Int?
    public var keepSandbox = false
    public var passStdin = false
    /// Bytes the agent reads on its stdin (serve's `stdin`); nil: /dev/null, or mpm-run's
    /// own stdin with `passStdin`.
    public var stdinData: [UInt8]?

    public init(agent: String) { self.agent = agent }
}

/// Run ids: random, so a sandbox path cannot be predicted by another user of /tmp.
public enum RunID {
    public static func make() -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes.withUnsafeMutableBytes { mpm_random($0.baseAddress, 8) }
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        return "r\(String(t.tv_sec, radix: 36))-\(hex)"
    }
}
