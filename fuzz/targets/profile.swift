// Fuzz target `profile`: the profile validator (ProfileParser), strict YAML.
//
// Beyond not crashing: every diagnostic is one clean line inside the file; a profile is
// built exactly when there is no error; a built profile keeps every documented bound (limits
// in range, capabilities only with system_config, valid paths and variable names); and the
// profile set that holds it next to itself reports the clash of names and claims.

@testable import MPMRun

private let file = "profiles/fuzz.yaml"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProfile(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let r = ProfileParser.parse(SourceFile(displayName: file, bytes: input))
    for d in r.diagnostics { checkDiagnostic(d, file: file, bytes: input, "parse") }
    let hasErrors = r.diagnostics.contains(where: \.isError)
    if (r.profile == nil) != hasErrors {
        violated(hasErrors ? "a profile with errors was built" : "no profile, and no error says why")
    }
    if let name = r.name, let problem = Identifier.problem(with: name) { violated("the name '\(name)' was read although \(problem)") }
    if let claims = r.claims {
        for c in claims { checkLocation(c.location, file: file, bytes: input, "applies_to") }
    }
    guard let p = r.profile else { return 0 }
    if p.name != r.name { violated("the profile's name '\(p.name)' is not the result's") }
    if p.appliesTo.isEmpty { violated("a profile that applies to nothing") }
    if Set(p.appliesTo).count != p.appliesTo.count { violated("a type is claimed twice") }
    if !(1...500).contains(p.description.count) { violated("description has \(p.description.count) characters") }
    for key in LimitKey.allCases where !key.allowedRange.contains(p.limits[key]) {
        violated("limits.\(key.rawValue) = \(p.limits[key]) is out of range")
    }
    for (tier, values) in p.tiers {
        for (key, v) in values where !key.allowedRange.contains(v) { violated("tiers.\(tier.rawValue).\(key.rawValue) = \(v) is out of range") }
    }
    if !p.capabilities.isEmpty && !p.permissions.contains(.systemConfig) { violated("capabilities without system_config") }
    for c in p.capabilities where !c.hasPrefix("cap_") || c != c.lowercased() { violated("the capability '\(c)' was accepted") }
    for path in p.readPaths + p.writePaths where ProjectPath.problem(with: path) != nil { violated("the path '\(path)' was accepted") }
    for name in p.envAllow + p.envSecrets + p.envSet.map(\.name) where !Identifier.isEnvironmentName(name) {
        violated("the variable name '\(name)' was accepted")
    }
    if let runtime = p.runtime, runtime.isEmpty || Command.argv0Problem(runtime[0]) != nil { violated("an invalid runtime was accepted") }
    // The same file twice: the name clashes, and so does every claim.
    let set = ProfileSet(results: [(file, r), ("profiles/again.yaml", r)])
    if set.entries.contains(where: { $0.profile != nil }) { violated("two profiles with one name were both kept") }
    if set.crossFileErrors.count != 1 + p.appliesTo.count {
        violated("\(set.crossFileErrors.count) cross-file errors for one name and \(p.appliesTo.count) claims")
    }
    return 0
}
