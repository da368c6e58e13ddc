// Shared by every fuzz target: the checks that go beyond "does not crash".
// Compiled into each target's executable together with the target's own file; see fuzz/run.

@testable import MPMRun
import Glibc

/// Stops the run on a broken property. libFuzzer reports the abort as a crash and keeps
/// the input, so a wrong answer is kept the same way as a crash.
func violated(_ what: String) -> Never {
    let line = Array("ORACLE VIOLATED: \(what)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// The most lines a diagnostic may name. libyaml also breaks lines at a lone CR, NEL, LS
/// and PS (YAML 1.1), so every one of them counts (CR LF counts twice: an upper bound).
func lineBound(_ bytes: [UInt8]) -> Int {
    var n = 1
    for u in String(decoding: bytes, as: UTF8.self).unicodeScalars {
        switch u {
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": n += 1
        default: break
        }
    }
    return n
}

/// A diagnostic as a person sees it: one line of plain text that starts with the file's
/// name, a location inside the file, and a message.
func checkDiagnostic(_ d: Diagnostic, file: String, bytes: [UInt8], _ context: String) {
    let text = d.description
    for u in text.unicodeScalars where u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 {
        violated("\(context): a diagnostic holds the control character U+\(String(u.value, radix: 16)): \(text.debugDescription)")
    }
    if d.file != file || !text.hasPrefix(file + ":") {
        violated("\(context): a diagnostic does not start with the file's name: \(text.debugDescription)")
    }
    if d.message.isEmpty { violated("\(context): a diagnostic without a message: \(text.debugDescription)") }
    if let line = d.line, !(1...(lineBound(bytes) + 1)).contains(line) {
        violated("\(context): line \(line) is outside the file (\(lineBound(bytes)) lines): \(text.debugDescription)")
    }
    if let column = d.column, !(1...(bytes.count + 1)).contains(column) {
        violated("\(context): column \(column) is outside the file (\(bytes.count) bytes): \(text.debugDescription)")
    }
    if d.column != nil && d.line == nil { violated("\(context): a column without a line: \(text.debugDescription)") }
}

/// The same for a location carried by a parsed value.
func checkLocation(_ at: SourceLocation, file: String, bytes: [UInt8], lineOffset: Int = 0, _ context: String) {
    if at.file != file { violated("\(context): a location names \(at.file), not \(file)") }
    if !((1 + lineOffset)...(lineBound(bytes) + 1 + lineOffset)).contains(at.line) {
        violated("\(context): line \(at.line) is outside the file (\(lineBound(bytes)) lines, offset \(lineOffset))")
    }
    if !(1...(bytes.count + 1)).contains(at.column) { violated("\(context): column \(at.column) is outside the file") }
}

/// Copies libFuzzer's input into an array.
func bytes(_ data: UnsafeRawPointer, _ size: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: data, count: size))
}
