/// The rules of the scrubbed environment that do not depend on a run: which names are
/// secrets, which names mpm-run itself sets, and what a secret's value must look like.
public enum EnvironmentRules {
    /// Names that mpm-run sets for every run; a profile or agent cannot supply them.
    public static let supervisorNames: Set<String> = [
        "HOME", "TMPDIR", "MPM_RUN_ID", "MPM_AGENT_ID", "MPM_INPUT_DIR", "MPM_OUTPUT_DIR",
    ]

    private static let secretWords = ["KEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL"]

    /// A name that may hold a secret: it never passes unless a profile lists it in `env.secrets`.
    public static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        return secretWords.contains { upper.contains($0) }
    }

    /// nil when `value` has the known shape of the secret `name`, otherwise why not.
    /// The message never contains the value.
    public static func secretValueProblem(name: String, value: String) -> String? {
        switch name {
        case "ANTHROPIC_API_KEY":
            return value.hasPrefix("sk-ant-") && value.count >= 20 ? nil : "does not look like an Anthropic key (sk-ant-...)"
        case "OPENAI_API_KEY":
            return value.hasPrefix("sk-") && value.count >= 20 ? nil : "does not look like an OpenAI key (sk-...)"
        case "GITHUB_TOKEN", "GH_TOKEN":
            let ok = value.count == 40 || value.hasPrefix("ghp_") || value.hasPrefix("gho_")
            return ok ? nil : "does not look like a GitHub token (ghp_..., gho_... or 40 characters)"
        default:
            return value.count >= 20 ? nil : "is shorter than 20 characters"
        }
    }
}
