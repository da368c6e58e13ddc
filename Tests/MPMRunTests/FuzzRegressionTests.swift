import Testing

@testable import MPMRun

/// Inputs that libFuzzer found (fuzz/run; fuzz/README.md), each with the property it broke.
/// The same inputs are in the fuzz targets' seed corpus (fuzz/corpus/<target>/regression-*),
/// so every fuzz run replays them too.
@Suite struct FuzzRegressionTests {
    /// jsonrpc target: a number beyond Double's range parsed to infinity, which the writer
    /// writes as null, so parse, write, parse changed the value (and serve answered such a
    /// line as if the number were valid).
    @Test func numberBeyondDoubleRangeIsRefused() {
        let found = "[0,-0,1.5,-2.5e-3,1E2,9223372033427387903,9931348623157e308]"
        #expect(JSONValue(parsing: Array(found.utf8)) == nil)
        for text in ["1e400", "-1e400", "1.7976931348623159e308", #"{"timeout_seconds":1e999}"#] {
            #expect(JSONValue(parsing: Array(text.utf8)) == nil, "\(text)")
        }
        // The largest finite numbers and the ones that round to zero still read, and round-trip.
        for text in ["1.7976931348623157e308", "-1.7976931348623157e308", "5e-324", "1e-400"] {
            let value = JSONValue(parsing: Array(text.utf8))
            #expect(value != nil, "\(text)")
            if let value { #expect(JSONValue(parsing: value.compactBytes) == value, "\(text)") }
        }
    }

    /// agent target: a JSON agent whose `instructions` is present but not a string (here a
    /// key without a value, null in YAML's flow syntax) was refused with only a warning, so
    /// `check` passed (exit 0) while the agent could not be loaded.
    @Test func jsonInstructionsThatAreNotAStringAreAnError() {
        let found = """
            {
              "agent_id": "test-runner",
              "agent_type": "qa",
              "instructions", and the likely cause."
            }

            """
        for (text, kind) in [(found, "null"), (#"{"agent_id": "a", "instructions": null}"#, "null"),
                             (#"{"agent_id": "a", "instructions": ["Do the thing well."]}"#, "a list"),
                             (#"{"agent_id": "a", "instructions": {"text": "Do the thing well."}}"#, "a mapping")] {
            let r = AgentParser.parse(SourceFile(displayName: "agents/x.json", bytes: Array(text.utf8)))
            #expect(r.definition == nil, "\(text)")
            let errors = r.diagnostics.filter(\.isError).map(\.description)
            #expect(errors.count == 1 && errors.first?.hasPrefix("agents/x.json:") == true
                        && errors.first?.hasSuffix("instructions: must be a string, not \(kind)") == true, "\(errors)")
        }
    }
}
