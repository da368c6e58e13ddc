// Fuzz target `yaml`: the strict YAML loader (StrictYAML on libyaml's event API).
//
// Beyond not crashing: a refusal is one clean diagnostic inside the file; a document that
// loads is clean UTF-8 without NUL, nests at most StrictYAML.maxDepth deep, has no
// duplicate key in any mapping, locates every node inside the file, and loads to the same
// tree, every line shifted, when it starts further down a file (Markdown front matter).

@testable import MPMRun

private let file = "fuzz.yaml"

/// Every node's shape, depth, keys and locations; returns a flat description to compare.
private func walk(_ node: YAMLNode, depth: Int, bytes: [UInt8], lineOffset: Int, into out: inout [String]) {
    checkLocation(node.location, file: file, bytes: bytes, lineOffset: lineOffset, "node")
    out.append("\(node.location.line - lineOffset):\(node.location.column)")
    switch node.content {
    case .scalar(let s, let plain):
        out.append("s\(plain ? "p" : "q")\(s.utf8.count):\(s)")
    case .sequence(let items):
        if depth >= StrictYAML.maxDepth { violated("a sequence at depth \(depth + 1), beyond \(StrictYAML.maxDepth)") }
        out.append("[\(items.count)")
        for item in items { walk(item, depth: depth + 1, bytes: bytes, lineOffset: lineOffset, into: &out) }
    case .mapping(let pairs):
        if depth >= StrictYAML.maxDepth { violated("a mapping at depth \(depth + 1), beyond \(StrictYAML.maxDepth)") }
        out.append("{\(pairs.count)")
        var seen = Set<String>()
        for pair in pairs {
            if !seen.insert(pair.key).inserted { violated("duplicate key '\(pair.key)' was loaded") }
            checkLocation(pair.keyLocation, file: file, bytes: bytes, lineOffset: lineOffset, "key")
            out.append("k\(pair.key.utf8.count):\(pair.key)@\(pair.keyLocation.line - lineOffset):\(pair.keyLocation.column)")
            walk(pair.value, depth: depth + 1, bytes: bytes, lineOffset: lineOffset, into: &out)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAML(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let root: YAMLNode
    do {
        root = try StrictYAML.load(input[...], file: file)
    } catch {
        checkDiagnostic(error, file: file, bytes: input, "load")
        if !error.isError { violated("a load failed with a warning: \(error)") }
        // The same refusal, at the same place, further down a file.
        do {
            _ = try StrictYAML.load(input[...], file: file, firstLine: 5)
            violated("loads at line 5 but not at line 1: \(error)")
        } catch let shifted {
            var expected = error
            if let line = error.line { expected.line = line + 4 }
            if shifted != expected { violated("at line 5 the refusal moved: \(error) then \(shifted)") }
        }
        return 0
    }
    if input.contains(0) { violated("a document with a NUL byte loaded") }
    if String(validating: input, as: UTF8.self) == nil { violated("a document that is not UTF-8 loaded") }
    var tree: [String] = []
    walk(root, depth: 0, bytes: input, lineOffset: 0, into: &tree)
    do {
        let shifted = try StrictYAML.load(input[...], file: file, firstLine: 5)
        var again: [String] = []
        walk(shifted, depth: 0, bytes: input, lineOffset: 4, into: &again)
        if again != tree { violated("the tree changed when loaded at line 5") }
    } catch {
        violated("loads at line 1 but not at line 5: \(error)")
    }
    return 0
}
