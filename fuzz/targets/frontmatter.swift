// Fuzz target `frontmatter`: the Markdown agent's front-matter splitter (FrontMatter.split
// in AgentParser.swift), checked against a second, naive implementation of the same rule:
// after an optional UTF-8 BOM, the first line is `---` (trailing CR, spaces and tabs
// allowed), the front matter runs to the next such line, the body starts on the line after.

@testable import MPMRun

private let file = "agents/fuzz.md"

private func isFence<C: Collection<UInt8>>(_ line: C) -> Bool {
    var s = Array(line)
    while let last = s.last, last == 0x0D || last == 0x20 || last == 0x09 { s.removeLast() }
    return s == Array("---".utf8)
}

/// The naive split: (front's byte range, body's first byte, body's first line), or nil.
private func reference(_ input: [UInt8]) -> (Range<Int>, Int, Int)? {
    let start = input.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    // Lines as (first byte, end byte without the newline).
    var lines: [(Int, Int)] = []
    var s = start
    for i in start..<input.count where input[i] == 0x0A {
        lines.append((s, i))
        s = i + 1
    }
    lines.append((s, input.count))
    guard isFence(input[lines[0].0..<lines[0].1]) else { return nil }
    for n in 1..<lines.count where isFence(input[lines[n].0..<lines[n].1]) {
        let front = lines[1].0..<lines[n].0
        let bodyStart = n + 1 < lines.count ? lines[n + 1].0 : input.count
        return (front, bodyStart, n + 2)
    }
    return nil
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrontMatter(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let clean = !input.contains(0) && String(validating: input, as: UTF8.self) != nil
    let expected = clean ? reference(input) : nil
    do {
        let (front, body, bodyLine) = try FrontMatter.split(input, file: file)
        guard let (range, bodyStart, line) = expected else {
            violated(clean ? "split a file the reference refuses" : "split a file that is not clean UTF-8")
        }
        if front.indices != range { violated("front matter \(front.indices), expected \(range)") }
        if bodyLine != line { violated("body at line \(bodyLine), expected \(line)") }
        if body != String(decoding: input[bodyStart...], as: UTF8.self) { violated("the body differs from the bytes after the fence") }
        // The line the body starts on, counted in the file itself.
        let newlines = input[..<bodyStart].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        if bodyStart < input.count || input.last == 0x0A, newlines + 1 != bodyLine {
            violated("body line \(bodyLine), but \(newlines) newlines precede the body")
        }
    } catch {
        checkDiagnostic(error, file: file, bytes: input, "split")
        if expected != nil { violated("refused a file the reference splits: \(error)") }
    }
    return 0
}
