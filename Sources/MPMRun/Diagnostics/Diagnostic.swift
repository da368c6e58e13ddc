/// A place in a file a person can open: 1-based line and column.
public struct SourceLocation: Sendable, Hashable, Codable {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
}

/// One problem found in an agent or profile file, rendered once at the edge as
/// `file:line:col: field: message` (warnings add `warning: ` after the location).
public struct Diagnostic: Sendable, Hashable, Codable, Error, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }

    public var severity: Severity
    public var file: String
    public var line: Int?
    public var column: Int?
    /// The dotted field path (`metadata.name`), or nil for a problem with the file itself.
    public var field: String?
    public var message: String

    public init(_ severity: Severity, file: String, line: Int? = nil, column: Int? = nil,
                field: String? = nil, _ message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    public init(_ severity: Severity, at location: SourceLocation, field: String? = nil, _ message: String) {
        self.init(severity, file: location.file, line: location.line, column: location.column,
                  field: field, message)
    }

    public static func error(at location: SourceLocation, field: String? = nil, _ message: String) -> Diagnostic {
        Diagnostic(.error, at: location, field: field, message)
    }

    public static func warning(at location: SourceLocation, field: String? = nil, _ message: String) -> Diagnostic {
        Diagnostic(.warning, at: location, field: field, message)
    }

    public var isError: Bool { severity == .error }

    public var description: String {
        var s = file
        if let line {
            s += ":\(line)"
            if let column { s += ":\(column)" }
        }
        s += ": "
        if severity == .warning { s += "warning: " }
        if let field { s += "\(field): " }
        s += message
        return Self.oneLine(s)
    }

    /// A diagnostic quotes values from the file, which may hold line breaks or terminal
    /// escapes; they are shown escaped so that every diagnostic stays one line of plain text.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            guard isControl(u) else { out.append(u); continue }
            switch u {
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            default: out.append(contentsOf: "\\u{\(String(u.value, radix: 16))}".unicodeScalars)
            }
        }
        return String(out)
    }

    private static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
    }
}

/// Everything found while reading one or more files; errors and warnings in the order met.
public struct Diagnostics: Sendable {
    public private(set) var items: [Diagnostic] = []

    public init() {}

    public mutating func append(_ d: Diagnostic) { items.append(d) }
    public mutating func append(contentsOf ds: [Diagnostic]) { items.append(contentsOf: ds) }
    public mutating func error(_ at: SourceLocation, _ field: String?, _ message: String) {
        items.append(.error(at: at, field: field, message))
    }
    public mutating func warning(_ at: SourceLocation, _ field: String?, _ message: String) {
        items.append(.warning(at: at, field: field, message))
    }

    public var errors: [Diagnostic] { items.filter(\.isError) }
    public var warnings: [Diagnostic] { items.filter { !$0.isError } }
    public var hasErrors: Bool { items.contains(where: \.isError) }
}
