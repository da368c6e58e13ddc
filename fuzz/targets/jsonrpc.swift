// Fuzz target `jsonrpc`: one line of serve's input, as Server.handle reads it: the strict
// JSON parser (JSONValue(parsing:)), then JSONRPC.decode for the message or each message of
// a batch, then the parameter readers the methods use.
//
// Beyond not crashing: whatever parses writes back as one line that parses to the same value
// and writes to the same bytes; every answer serve would send (an error, or a result for a
// request with an id) is one line of valid JSON-RPC 2.0 with an id of a permitted kind.

@testable import MPMRun

private func checkLine(_ answer: JSONValue, _ context: String) {
    let line = JSONRPC.line(answer)
    if line.last != 0x0A || line.dropLast().contains(0x0A) || line.contains(0x0D) {
        violated("\(context): the answer is not one line")
    }
    guard let back = JSONValue(parsing: line.dropLast()), back == answer else { violated("\(context): the answer does not read back") }
    guard back["jsonrpc"] == .string("2.0") else { violated("\(context): the answer has no jsonrpc 2.0") }
    switch back["id"] {
    case .string?, .int?, .null?: break
    default: violated("\(context): the answer's id is \(String(describing: back["id"]))")
    }
}

private func message(_ value: JSONValue, _ context: String) {
    switch JSONRPC.decode(value) {
    case .failure(let rejection):
        checkLine(JSONRPC.error(id: rejection.id, rejection.failure), context + " (rejection)")
    case .success(let request):
        if case .object(let members) = value, members["id"] != nil, request.id == nil { violated("\(context): the id was lost") }
        // The parameters of each method, read as the server reads them.
        var failure: JSONRPC.Failure?
        do throws(JSONRPC.Failure) {
            switch request.method {
            case "run":
                let p = try Params(request.params, allowed: ["agent", "inputs", "args", "stdin", "timeout_seconds", "output_dir"])
                _ = try p.string("agent", required: true)
                _ = try p.strings("inputs")
                _ = try p.strings("args")
                _ = try p.positiveInt("timeout_seconds")
                _ = try p.string("output_dir")
            case "cancel":
                _ = try Params(request.params, allowed: ["run_id"]).string("run_id", required: true)
            case "agents/explain":
                _ = try Params(request.params, allowed: ["agent"]).string("agent", required: true)
            default:
                _ = try Params(request.params, allowed: [])
            }
        } catch {
            failure = error
        }
        guard let id = request.id else { return }
        if let failure {
            checkLine(JSONRPC.error(id: id, failure), context + " (params)")
        } else {
            checkLine(JSONRPC.result(id: id, ["method": .string(request.method), "params": .object(request.params)]), context + " (result)")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let value = JSONValue(parsing: input) else { return 0 }
    // Parse, write, parse: the same value, and the same bytes the second time.
    let written = value.compactBytes
    if written.contains(0x0A) || written.contains(0x0D) { violated("the written value is not one line") }
    guard let again = JSONValue(parsing: written) else {
        violated("the written value does not parse: \(String(decoding: written.prefix(200), as: UTF8.self))")
    }
    if again != value { violated("parse, write, parse changed the value: \(String(decoding: written.prefix(200), as: UTF8.self))") }
    if again.compactBytes != written { violated("writing the value again gave other bytes") }
    if case .array(let batch) = value {
        for (i, item) in batch.enumerated() { message(item, "batch item \(i)") }
    } else {
        message(value, "message")
    }
    return 0
}
