/// The smallest valid profile and agent the catalog tests write: profile `p` for type
/// `engineer`, and agents of that type.
enum CatalogFixtures {
    /// `permissions` goes in as written (a flow list), so a test can pad it to keep the file's
    /// size; `extra` lines go after the last field.
    static func profile(_ permissions: String, extra: String = "") -> String {
        """
        profile: p
        description: Test.
        applies_to: [engineer]
        permissions: \(permissions)
        limits: {memory_mb: 256, cpu_seconds: 10, timeout_seconds: 10, max_processes: 8,
                 max_open_files: 64, max_file_size_mb: 1, max_output_bytes: 65536}
        runtime: [/bin/true]
        \(extra)
        """
    }

    static func agent(_ id: String = "a", _ instructions: String = "Hi.") -> String {
        "agent_id: \(id)\nversion: 1.0.0\ntype: engineer\nmetadata: {name: A, description: Test.}\ninstructions: \(instructions)\n"
    }
}
