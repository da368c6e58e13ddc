/// Byte-level checks every definition file passes before any parser sees it, so that a
/// NUL or a broken UTF-8 sequence is reported at its own line and column, not as a
/// parser's confused complaint somewhere later.
enum TextChecks {
    /// Returns the first problem, located, or nil when the text is clean UTF-8 without NUL.
    static func validate(_ bytes: ArraySlice<UInt8>, file: String, firstLine: Int = 1) -> Diagnostic? {
        // Fast path: almost every file is clean.
        if !bytes.contains(0), String(validating: bytes, as: UTF8.self) != nil { return nil }
        var line = firstLine
        var column = 1
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar.value == 0 {
                    return Diagnostic(.error, file: file, line: line, column: column, "file contains a NUL byte")
                }
                if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
            case .emptyInput:
                return nil
            case .error:
                return Diagnostic(.error, file: file, line: line, column: column, "file is not valid UTF-8")
            }
        }
    }
}
