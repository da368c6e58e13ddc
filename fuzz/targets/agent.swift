// Fuzz target `agent`: the agent validator (AgentParser) in all three formats. Every input
// is read as a native YAML agent, as a Claude MPM Markdown agent and as a Claude MPM JSON
// agent, so one corpus serves the three and coverage of one helps the others.
//
// Beyond not crashing: every diagnostic is one clean line inside the file; a refused file
// says why (at least one error); an accepted one has no error, a valid id and, for the
// native format, every field within its documented bounds; and an accepted agent resolves
// against the shipped profiles to a policy or to a refusal with located reasons.

@testable import MPMRun
import Glibc

/// The shipped profiles, read once from `profiles/` (the run script starts the targets in
/// the repository's root; MPM_FUZZ_PROFILES names another folder).
private let profiles: ProfileSet = {
    let dir = getenv("MPM_FUZZ_PROFILES").map { String(cString: $0) } ?? "profiles"
    guard let d = opendir(dir) else { violated("cannot open the profiles folder '\(dir)' (run from the repository's root)") }
    defer { closedir(d) }
    var results: [(file: String, ProfileParser.Result)] = []
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        guard name.hasSuffix(".yaml") else { continue }
        let path = dir + "/" + name
        guard let source = try? SourceFile.read(path: path, displayName: path) else { violated("cannot read \(path)") }
        results.append((path, ProfileParser.parse(source)))
    }
    let set = ProfileSet(results: results.sorted { $0.file < $1.file })
    if set.entries.isEmpty || set.entries.contains(where: { $0.profile == nil }) {
        violated("the profiles in '\(dir)' are missing or broken")
    }
    return set
}()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzAgentInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    _ = profiles.entries.count
    return 0
}

private func check(_ input: [UInt8], ext: String) {
    let file = "agents/fuzz.\(ext)"
    let context = "as .\(ext)"
    let r = AgentParser.parse(SourceFile(displayName: file, bytes: input))
    for d in r.diagnostics { checkDiagnostic(d, file: file, bytes: input, context) }
    if let id = r.id, let problem = Identifier.problem(with: id) { violated("\(context): the id '\(id)' was read although \(problem)") }
    guard let def = r.definition else {
        if !r.diagnostics.contains(where: \.isError) { violated("\(context): refused without an error") }
        return
    }
    if let e = r.diagnostics.first(where: \.isError) { violated("\(context): accepted with an error: \(e)") }
    if def.id != r.id { violated("\(context): the definition's id '\(def.id)' is not the result's id") }
    if def.file != file { violated("\(context): the definition names the file \(def.file)") }
    if ext == "yaml" {
        if def.format != .native { violated("\(context): format \(def.format)") }
        if !(1...100).contains(def.name.count) { violated("\(context): metadata.name has \(def.name.count) characters") }
        if !(1...500).contains(def.description.count) { violated("\(context): metadata.description has \(def.description.count) characters") }
        if !(10...50_000).contains(def.instructions.count) { violated("\(context): instructions have \(def.instructions.count) characters") }
        if !(1...50).contains(def.type?.count ?? 0) { violated("\(context): type '\(def.type ?? "nil")' is out of bounds") }
        if !Identifier.isSemanticVersion(def.version) { violated("\(context): version '\(def.version)'") }
        if let command = def.command, command.isEmpty || Command.argv0Problem(command[0].value) != nil {
            violated("\(context): an invalid command was accepted")
        }
        for (k, v) in def.requests.limits where !k.allowedRange.contains(v.value) {
            violated("\(context): limits.\(k.rawValue) = \(v.value) is out of range")
        }
        for p in (def.requests.readPaths ?? []) + (def.requests.writePaths ?? []) where ProjectPath.problem(with: p.value) != nil {
            violated("\(context): the path '\(p.value)' was accepted")
        }
    }
    switch PolicyResolver.resolve(def, profiles: profiles, projectRoot: "/nonexistent/project") {
    case .success(let policy):
        for w in policy.warnings { checkDiagnostic(w, file: file, bytes: input, context + " (policy)") }
    case .failure(let refusal):
        if refusal.errors.isEmpty { violated("\(context): the policy was refused without a reason") }
        for d in refusal.errors { checkDiagnostic(d, file: file, bytes: input, context + " (policy)") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAgent(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = bytes(data, size)
    for ext in ["yaml", "md", "json"] { check(input, ext: ext) }
    return 0
}
