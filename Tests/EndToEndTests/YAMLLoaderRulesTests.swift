import Foundation
import Testing

/// The strict YAML loader's rules (issue 2, item 2), each broken by a fixture that breaks
/// nothing else, through the real binary: one line naming file, line and column.
@Suite struct YAMLLoaderRulesTests {
    @Test func anchorOnAScalarIsRefused() throws {
        try expectOnlyError("agent_id: &a sample\n", "agents/x.yaml:1:11: anchors are not allowed")
    }

    @Test func anchorOnAMappingIsRefused() throws {
        let text = Fixture.agent().replacingOccurrences(of: "metadata:", with: "metadata: &meta")
        try expectOnlyError(text, "agents/x.yaml:4:11: anchors are not allowed")
    }

    @Test func anchorOnAListIsRefused() throws {
        try expectOnlyError(Fixture.agent(command: "&c [/bin/true]"), "agents/x.yaml:8:10: anchors are not allowed")
    }

    @Test func aliasIsRefused() throws {
        try expectOnlyError("agent_id: sample\nversion: *a\n", "agents/x.yaml:2:10: aliases are not allowed")
    }

    @Test func standardTagIsRefused() throws {
        try expectOnlyError("agent_id: !!str sample\n", "agents/x.yaml:1:11: tags are not allowed (tag:yaml.org,2002:str)")
    }

    @Test func customTagIsRefused() throws {
        try expectOnlyError("agent_id: sample\nversion: !semver 1.0.0\n", "agents/x.yaml:2:10: tags are not allowed (!semver)")
    }

    @Test func tagOnAMappingIsRefused() throws {
        try expectOnlyError("agent_id: sample\nmetadata: !!map {name: x}\n",
                            "agents/x.yaml:2:11: tags are not allowed (tag:yaml.org,2002:map)")
    }

    @Test func tagOnAListIsRefused() throws {
        try expectOnlyError(Fixture.agent(command: "!!seq [/bin/true]"),
                            "agents/x.yaml:8:10: tags are not allowed (tag:yaml.org,2002:seq)")
    }

    @Test func duplicateTopLevelKeyIsRefused() throws {
        let text = Fixture.agent(extra: ["version: 2.0.0"])
        try expectOnlyError(text, "agents/x.yaml:9:1: duplicate key 'version'")
    }

    @Test func duplicateNestedKeyIsRefused() throws {
        let text = Fixture.agent(description: "First.\n  description: Second.")
        try expectOnlyError(text, "agents/x.yaml:7:3: duplicate key 'description'")
    }

    @Test func duplicateKeyInFlowMappingIsRefused() throws {
        let text = Fixture.agent(extra: ["limits: {memory_mb: 256, memory_mb: 128}"])
        try expectOnlyError(text, "agents/x.yaml:9:26: duplicate key 'memory_mb'")
    }

    @Test func quotedAndPlainSpellingsOfAKeyAreTheSameKey() throws {
        try expectOnlyError("agent_id: sample\n\"agent_id\": other\n", "agents/x.yaml:2:1: duplicate key 'agent_id'")
    }

    @Test func secondDocumentIsRefused() throws {
        let text = Fixture.agent() + "---\nagent_id: other\n"
        try expectOnlyError(text, "agents/x.yaml:9:1: more than one YAML document in the file")
    }

    @Test func oneDocumentWithExplicitMarkersLoads() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", "---\n" + Fixture.agent() + "...\n")
        let r = try project.check()
        #expect(r.errors.isEmpty, "\(r.output.stdout)")
        #expect(r.status == 0)
    }

    @Test func nestingDeeperThan32IsRefused() throws {
        // The top mapping is level 1; 32 brackets make 33 levels; the 32nd bracket (column 42) is refused.
        let text = "agent_id: " + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "\n"
        try expectOnlyError(text, "agents/x.yaml:1:42: nesting deeper than 32 levels")
    }

    @Test func nesting32LevelsIsNotALoaderError() throws {
        // 31 brackets make exactly 32 levels: the loader accepts it and the schema complains.
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(extra: [
            "limits: " + String(repeating: "[", count: 31) + String(repeating: "]", count: 31),
        ]))
        let r = try project.check()
        #expect(r.errors == ["agents/x.yaml:9:9: limits: must be a mapping, not a list"], "\(r.output.stdout)")
    }

    @Test func deepBlockMappingsAreRefused() throws {
        var text = "a:\n"
        for level in 1...33 { text += String(repeating: "  ", count: level) + "k\(level):\n" }
        text += String(repeating: "  ", count: 34) + "v\n"
        // The mapping holding k32 is the 33rd level; it starts at k32, column 65 of line 33.
        try expectOnlyError(text, "agents/x.yaml:33:65: nesting deeper than 32 levels")
    }

    @Test func fileOver1MiBIsRefusedBeforeParsing() throws {
        let text = Fixture.agent() + "# " + String(repeating: "x", count: 1 << 20) + "\n"
        let size = text.utf8.count
        try expectOnlyError(text, "agents/x.yaml: file is larger than 1 MiB (\(size) bytes)")
    }

    @Test func fileOfExactly1MiBIsNotRefusedForItsSize() throws {
        var text = Fixture.agent() + "# "
        text += String(repeating: "x", count: (1 << 20) - text.utf8.count - 1) + "\n"
        #expect(text.utf8.count == 1 << 20)
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", text)
        let r = try project.check()
        #expect(r.errors.isEmpty, "\(r.output.stdout)")
    }

    @Test func invalidUTF8IsLocated() throws {
        var bytes = Array("agent_id: sample\nversion: 1.".utf8)
        bytes += [0xFF]
        bytes += Array("0.0\n".utf8)
        try expectOnlyError(bytes: bytes, "agents/x.yaml:2:12: file is not valid UTF-8")
    }

    @Test func invalidUTF8ColumnCountsCharactersNotBytes() throws {
        // "é" is two bytes but one column; the truncated sequence stands in column 12.
        var bytes = Array("agent_id: sample\nversion: éé".utf8)
        bytes += [0xC3]
        bytes += Array("\n".utf8)
        try expectOnlyError(bytes: bytes, "agents/x.yaml:2:12: file is not valid UTF-8")
    }

    @Test func overlongUTF8EncodingIsRefused() throws {
        // 0xC0 0xAF is an overlong '/', a classic way to smuggle a path separator.
        var bytes = Array("agent_id: a".utf8)
        bytes += [0xC0, 0xAF]
        bytes += Array("b\n".utf8)
        try expectOnlyError(bytes: bytes, "agents/x.yaml:1:12: file is not valid UTF-8")
    }

    @Test func nulByteIsLocated() throws {
        var bytes = Array(Fixture.agent().utf8)
        // Replace the 't' of "type" on line 3 with NUL.
        let typeStart = Array("agent_id: sample\nversion: 1.0.0\n".utf8).count
        bytes[typeStart] = 0
        try expectOnlyError(bytes: bytes, "agents/x.yaml:3:1: file contains a NUL byte")
    }

    @Test func billionLaughsIsRefusedAtTheFirstAnchorInMilliseconds() throws {
        var lines = ["a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]"]
        let names = Array("abcdefghijklmnopqrstuvwxyz").map(String.init)
        for i in 1..<26 {
            let prev = names[i - 1]
            lines.append("\(names[i]): &\(names[i]) [" + Array(repeating: "*\(prev)", count: 9).joined(separator: ", ") + "]")
        }
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/laughs.yaml", lines.joined(separator: "\n") + "\n")
        try project.write("profiles/laughs.yaml", lines.joined(separator: "\n") + "\n")
        // The whole process, start to exit, in well under a second: nothing was expanded.
        // The fastest of three runs, so that other tests running beside it cannot make it flaky.
        var fastest = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            let r = try project.check()
            fastest = min(fastest, Date().timeIntervalSince(start))
            #expect(r.errors == [
                "profiles/laughs.yaml:1:4: anchors are not allowed",
                "agents/laughs.yaml:1:4: anchors are not allowed",
            ], "\(r.output.stdout)")
            #expect(r.status == 1)
        }
        #expect(fastest < 1.0, "check took \(fastest) s")
    }

    @Test func longListsAndManyKeysAreReadInLinearTime() throws {
        // Just under 1 MiB each: 90000 unknown keys, and a list of 450000 items. Appending in
        // place keeps both to about a second even in a debug build; a copy per item took minutes.
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/keys.yaml", (0..<90_000).map { "k\($0): 1\n" }.joined())
        try project.write("agents/list.yaml", Fixture.agent(extra: ["limits: [" + Array(repeating: "1", count: 450_000).joined(separator: ",") + "]"]))
        let start = Date()
        let r = try project.check()
        let elapsed = Date().timeIntervalSince(start)
        #expect(r.errors.count == 90_000 + 5 + 1, "\(r.summary)")
        #expect(r.errors.contains("agents/list.yaml:9:9: limits: must be a mapping, not a list"))
        #expect(elapsed < 15, "check took \(elapsed) s")
    }

    @Test func aliasBombWithoutAnchorsFirstIsStillRefusedAtTheAlias() throws {
        // An alias that names an anchor defined nowhere is refused as an alias, not chased.
        let text = "x: [" + Array(repeating: "*a", count: 10_000).joined(separator: ", ") + "]\n"
        try expectOnlyError(text, "agents/x.yaml:1:5: aliases are not allowed")
    }

    @Test func emptyFileIsRefused() throws {
        try expectOnlyError("", "agents/x.yaml:1:1: document is empty")
    }

    @Test func commentOnlyFileIsRefused() throws {
        try expectOnlyError("# nothing here\n", "agents/x.yaml:1:1: document is empty")
    }

    @Test func documentThatIsNotAMappingIsRefused() throws {
        try expectOnlyError("- agent_id: sample\n", "agents/x.yaml:1:1: document: must be a mapping, not a list")
    }

    @Test func complexKeyIsRefused() throws {
        try expectOnlyError("? [agent_id]\n: sample\n", "agents/x.yaml:1:3: a mapping key must be a scalar")
    }

    @Test func nullKeyIsRefused() throws {
        try expectOnlyError("agent_id: sample\n~: orphan\n", "agents/x.yaml:2:1: a mapping key must not be empty")
    }

    @Test func syntaxErrorIsOneLocatedLine() throws {
        try expectOnlyError("agent_id: sample\nversion: 1.0.0\n  type: qa\n",
                            "agents/x.yaml:3:7: mapping values are not allowed in this context")
    }

    @Test func unclosedFlowListIsOneLocatedLine() throws {
        try expectOnlyError("agent_id: sample\ncommand: [/bin/true\n",
                            "agents/x.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence)")
    }

    @Test func profilesGoThroughTheSameLoader() throws {
        let project = try Project()
        try project.write("profiles/p.yaml", Fixture.profile(extra: ["tiers: &t {}"]))
        let r = try project.check()
        #expect(r.errors == ["profiles/p.yaml:13:8: anchors are not allowed"], "\(r.output.stdout)")
        #expect(r.status == 1)
    }

    @Test func markdownFrontMatterIsLoadedStrictlyWithFileLines() throws {
        // Front matter starts on line 2 of the file; the alias on its 3rd line is line 4.
        let text = "---\nagent_id: sample\nagent_type: qa\ndescription: *d\n---\nRun the tests and report.\n"
        try expectOnlyError(agentFile: "x.md", text, "agents/x.md:4:14: aliases are not allowed")
    }

    @Test func markdownFrontMatterDuplicateKeyIsRefused() throws {
        let text = "---\nagent_id: sample\nagent_id: other\n---\nRun the tests and report.\n"
        try expectOnlyError(agentFile: "x.md", text, "agents/x.md:3:1: duplicate key 'agent_id'")
    }

    @Test func jsonDuplicateKeyIsRefused() throws {
        let text = "{\n  \"agent_id\": \"sample\",\n  \"instructions\": \"Run the tests and report.\",\n  \"agent_id\": \"other\"\n}\n"
        try expectOnlyError(agentFile: "x.json", text, "agents/x.json:4:3: duplicate key 'agent_id'")
    }

    @Test func jsonNulByteIsLocated() throws {
        var bytes = Array("{\"agent_id\": \"sample\",\n \"instructions\": \"Run the tests.".utf8)
        bytes += [0]
        bytes += Array("\"}\n".utf8)
        try expectOnlyError(agentFile: "x.json", bytes: bytes, "agents/x.json:2:33: file contains a NUL byte")
    }
}
