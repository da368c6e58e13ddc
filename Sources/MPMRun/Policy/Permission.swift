/// The five permissions of the Claude MPM security guide. What each grants at the kernel
/// level is decided in one place, the isolation plan; here they are only names.
public enum Permission: String, CaseIterable, Sendable, Codable, Comparable {
    case readFiles = "read_files"
    case writeFiles = "write_files"
    case executeCommands = "execute_commands"
    case networkAccess = "network_access"
    case systemConfig = "system_config"

    public static func < (a: Permission, b: Permission) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// One line for `explain`: what holding (or lacking) the permission means.
    public var grantedMeaning: String {
        switch self {
        case .readFiles: return "may read the project paths in read_paths"
        case .writeFiles: return "may write output/ and the write_paths"
        case .executeCommands: return "may start other programs and processes"
        case .networkAccess: return "may open internet sockets"
        case .systemConfig: return "keeps the capabilities listed in the profile"
        }
    }

    public var deniedMeaning: String {
        switch self {
        case .readFiles: return "reads only its sandbox and the system's runtime files"
        case .writeFiles: return "output/ and everything outside temp/ are read-only"
        case .executeCommands: return "any later execve and any new process fail with EPERM"
        case .networkAccess: return "socket() of every family fails with EPERM (socketpair stays)"
        case .systemConfig: return "every capability dropped"
        }
    }
}

/// The limits a profile sets and an agent may only lower.
public enum LimitKey: String, CaseIterable, Sendable, Codable {
    case memoryMB = "memory_mb"
    case cpuSeconds = "cpu_seconds"
    case timeoutSeconds = "timeout_seconds"
    case maxProcesses = "max_processes"
    case maxOpenFiles = "max_open_files"
    case maxFileSizeMB = "max_file_size_mb"
    case maxOutputBytes = "max_output_bytes"

    /// What a profile may set: wide enough for any real agent, narrow enough that a typo
    /// (an extra three zeros) is caught, and every limit at least 1.
    public var allowedRange: ClosedRange<Int> {
        switch self {
        case .memoryMB: return 16...1_048_576
        case .cpuSeconds: return 1...604_800
        case .timeoutSeconds: return 1...604_800
        case .maxProcesses: return 1...65_536
        case .maxOpenFiles: return 16...1_048_576
        case .maxFileSizeMB: return 1...1_048_576
        case .maxOutputBytes: return 1...(1 << 40)
        }
    }
}

/// Every limit of a run; none is ever unbounded.
public struct ResourceLimits: Sendable, Codable, Equatable {
    public var memoryMB: Int
    public var cpuSeconds: Int
    public var timeoutSeconds: Int
    public var maxProcesses: Int
    public var maxOpenFiles: Int
    public var maxFileSizeMB: Int
    public var maxOutputBytes: Int

    public init(memoryMB: Int, cpuSeconds: Int, timeoutSeconds: Int, maxProcesses: Int,
                maxOpenFiles: Int, maxFileSizeMB: Int, maxOutputBytes: Int) {
        self.memoryMB = memoryMB
        self.cpuSeconds = cpuSeconds
        self.timeoutSeconds = timeoutSeconds
        self.maxProcesses = maxProcesses
        self.maxOpenFiles = maxOpenFiles
        self.maxFileSizeMB = maxFileSizeMB
        self.maxOutputBytes = maxOutputBytes
    }

    /// The limits of a type no profile claims (the guide's empty permission set): small.
    public static let unclaimedDefault = ResourceLimits(
        memoryMB: 512, cpuSeconds: 60, timeoutSeconds: 300, maxProcesses: 16,
        maxOpenFiles: 64, maxFileSizeMB: 16, maxOutputBytes: 1 << 20)

    public subscript(key: LimitKey) -> Int {
        get {
            switch key {
            case .memoryMB: return memoryMB
            case .cpuSeconds: return cpuSeconds
            case .timeoutSeconds: return timeoutSeconds
            case .maxProcesses: return maxProcesses
            case .maxOpenFiles: return maxOpenFiles
            case .maxFileSizeMB: return maxFileSizeMB
            case .maxOutputBytes: return maxOutputBytes
            }
        }
        set {
            switch key {
            case .memoryMB: memoryMB = newValue
            case .cpuSeconds: cpuSeconds = newValue
            case .timeoutSeconds: timeoutSeconds = newValue
            case .maxProcesses: maxProcesses = newValue
            case .maxOpenFiles: maxOpenFiles = newValue
            case .maxFileSizeMB: maxFileSizeMB = newValue
            case .maxOutputBytes: maxOutputBytes = newValue
            }
        }
    }
}

/// Claude MPM's `resource_tier` values.
public enum ResourceTier: String, CaseIterable, Sendable, Codable {
    case lightweight, basic, standard, high, intensive
}

/// Section 5's thresholds; every one has the security guide's default.
public struct IncidentThresholds: Sendable, Codable, Equatable {
    public var maxDenialsPerRun = 20
    public var quarantineAfterIncidents = 5
    public var quarantineWindowSeconds = 300
    public var quarantineSeconds = 900
    public var maxLaunchesPerMinute = 100

    public init() {}

    static let keys = ["max_denials_per_run", "quarantine_after_incidents", "quarantine_window_seconds",
                       "quarantine_seconds", "max_launches_per_minute"]
}
