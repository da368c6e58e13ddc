/// JSON-RPC 2.0 as serve speaks it (CONTRACT.md section 6): one object per line each way.
public enum JSONRPC {
    public enum Code {
        public static let parseError = -32700
        public static let invalidRequest = -32600
        public static let methodNotFound = -32601
        public static let invalidParams = -32602
        public static let unknownAgent = -32001
        public static let refused = -32002
        public static let busy = -32003
        public static let limited = -32004
    }

    /// Longest line read; a longer one is answered with -32600 and skipped, never buffered.
    public static let maxLineBytes = 1 << 20

    /// A request or notification, checked against the specification's shape.
    public struct Request: Sendable {
        /// nil for a notification (no `id` member): it is never answered.
        public var id: JSONValue?
        public var method: String
        public var params: [String: JSONValue]
    }

    /// An error response's contents.
    public struct Failure: Error, Sendable {
        public var code: Int
        public var message: String
        public var data: JSONValue?

        public init(_ code: Int, _ message: String, data: JSONValue? = nil) {
            self.code = code
            self.message = message
            self.data = data
        }
    }

    /// A message that is not a valid request: answered with `failure` under `id`.
    public struct Rejection: Error, Sendable {
        public var id: JSONValue
        public var failure: Failure
    }

    /// The request in `value`, or the error to answer with the id it could be read from.
    public static func decode(_ value: JSONValue) -> Result<Request, Rejection> {
        guard case .object(let members) = value else {
            return .failure(Rejection(id: JSONValue.null, failure: Failure(Code.invalidRequest, "a request must be a JSON object")))
        }
        var id: JSONValue?
        if let raw = members["id"] {
            switch raw {
            case .string, .int, .null: id = raw
            default:
                return .failure(Rejection(id: JSONValue.null, failure: Failure(Code.invalidRequest, "id must be a string, an integer or null")))
            }
        }
        let answerID = id ?? .null
        guard members["jsonrpc"] == .string("2.0") else {
            return .failure(Rejection(id: answerID, failure: Failure(Code.invalidRequest, #"jsonrpc must be "2.0""#)))
        }
        guard case .string(let method)? = members["method"] else {
            return .failure(Rejection(id: answerID, failure: Failure(Code.invalidRequest, "method must be a string")))
        }
        for key in members.keys where !["jsonrpc", "id", "method", "params"].contains(key) {
            return .failure(Rejection(id: answerID, failure: Failure(Code.invalidRequest, "unknown member '\(key)'")))
        }
        var params: [String: JSONValue] = [:]
        switch members["params"] {
        case nil, .null?: break
        case .object(let p)?: params = p
        case .array?:
            return .failure(Rejection(id: answerID, failure: Failure(Code.invalidParams, "params must be an object (by name), not an array")))
        default:
            return .failure(Rejection(id: answerID, failure: Failure(Code.invalidRequest, "params must be an object")))
        }
        return .success(Request(id: id, method: method, params: params))
    }

    public static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        .object(["jsonrpc": "2.0", "id": id, "result": result])
    }

    public static func error(id: JSONValue, _ failure: Failure) -> JSONValue {
        var error: [String: JSONValue] = ["code": .int(failure.code), "message": .string(failure.message)]
        if let data = failure.data { error["data"] = data }
        return .object(["jsonrpc": "2.0", "id": id, "error": .object(error)])
    }

    public static func notification(_ method: String, _ params: [String: JSONValue]) -> JSONValue {
        .object(["jsonrpc": "2.0", "method": .string(method), "params": .object(params)])
    }

    /// One line of output: compact JSON (strings escape every line break) and a newline.
    public static func line(_ value: JSONValue) -> [UInt8] {
        var bytes = Array(value.compactText.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

/// Reading a request's params by name, each mistake a -32602 that names the parameter.
struct Params {
    let values: [String: JSONValue]

    init(_ values: [String: JSONValue], allowed: [String]) throws(JSONRPC.Failure) {
        for key in values.keys.sorted() where !allowed.contains(key) {
            throw JSONRPC.Failure(JSONRPC.Code.invalidParams, "unknown parameter '\(key)' (expected: \(allowed.joined(separator: ", ")))")
        }
        self.values = values
    }

    func string(_ key: String, required: Bool = false) throws(JSONRPC.Failure) -> String? {
        switch values[key] {
        case nil, .null?:
            if required { throw missing(key) }
            return nil
        case .string(let s)?:
            if s.isEmpty { throw invalid(key, "must not be empty") }
            if s.utf8.contains(0) { throw invalid(key, "must not contain NUL") }
            return s
        default: throw invalid(key, "must be a string")
        }
    }

    func strings(_ key: String) throws(JSONRPC.Failure) -> [String] {
        switch values[key] {
        case nil, .null?: return []
        case .array(let items)?:
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item, !s.utf8.contains(0) else { throw invalid(key, "must be an array of strings") }
                out.append(s)
            }
            return out
        default: throw invalid(key, "must be an array of strings")
        }
    }

    func positiveInt(_ key: String) throws(JSONRPC.Failure) -> Int? {
        switch values[key] {
        case nil, .null?: return nil
        case .int(let i)? where i >= 1: return i
        default: throw invalid(key, "must be an integer of at least 1")
        }
    }

    private func missing(_ key: String) -> JSONRPC.Failure {
        JSONRPC.Failure(JSONRPC.Code.invalidParams, "missing parameter '\(key)'")
    }

    private func invalid(_ key: String, _ why: String) -> JSONRPC.Failure {
        JSONRPC.Failure(JSONRPC.Code.invalidParams, "parameter '\(key)' \(why)")
    }
}
