import Foundation
import Testing
@testable import MPMRun

/// Throws thousands of mutated and random documents at the loader and the parsers above
/// it: nothing may crash or hang, and every failure must be a clean diagnostic, one line
/// that starts with the file's name. Deterministic: a fixed seed, so a failure reproduces.
@Suite struct YAMLFuzzTests {
    typealias SplitMix64 = SeededRandom

    struct Seed {
        var name: String
        var bytes: [UInt8]
        var isProfile: Bool
    }

    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The shipped agents and profiles, plus small hand-written documents of each format.
    static func seeds() throws -> [Seed] {
        var out: [Seed] = []
        for (dir, isProfile) in [("agents", false), ("profiles", true)] {
            let names = try FileManager.default.contentsOfDirectory(atPath: root + "/" + dir).sorted()
            for name in names where AgentParser.extensions.contains(String(name.split(separator: ".").last ?? "")) {
                let data = try Data(contentsOf: URL(fileURLWithPath: root + "/" + dir + "/" + name))
                out.append(Seed(name: dir + "/" + name, bytes: Array(data), isProfile: isProfile))
            }
        }
        let native = """
            agent_id: sample
            version: 1.0.0
            type: documentation
            metadata: {name: Sample, description: A sample., specializations: [a, b]}
            instructions: |
              Read the inputs and summarize them.
            command: [/bin/true, "--flag"]
            limits: {memory_mb: 256, timeout_seconds: 60}
            file_access: {read_paths: [docs], write_paths: []}
            network_access: false
            env: [LANG]

            """
        out.append(Seed(name: "agents/sample.yaml", bytes: Array(native.utf8), isProfile: false))
        let json = #"{"agent_id": "j", "agent_type": "qa", "capabilities": {"tools": ["Read"], "memory_limit": 512, "cpu_limit": 50.5}, "instructions": "Do the thing well."}"#
        out.append(Seed(name: "agents/sample.json", bytes: Array(json.utf8), isProfile: false))
        let md = "---\nname: Helper Bot\ntools: Read, Bash\nresource_tier: high\ntimeout: 90\n---\nHelp with whatever is asked.\n"
        out.append(Seed(name: "agents/sample.md", bytes: Array(md.utf8), isProfile: false))
        #expect(out.count >= 10, "the shipped agents and profiles were not found under \(root)")
        return out
    }

    /// Fragments that poke at the loader's rules and at libyaml's corners.
    static let fragments: [String] = [
        "&a ", "*a", "&anchor [1, 2]", "*anchor", "!!str ", "!!map ", "!custom ", "!<tag:yaml.org,2002:str> ",
        "<<: *a\n", "---\n", "...\n", "--- !tag\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "? ", ": ", "- ", "-\n",
        "[", "]", "{", "}", ",", "\"", "'", "|", "|-\n", ">+\n", "#", "\t", "\r", "\r\n", "\u{FEFF}", "\u{2028}",
        "\u{85}", "é", "😀", "\\", "\\u0000", "\"\\x00\"", "\"\\uD800\"", "~", "null", "true", "0x1F", "1e999", "-0",
        "9999999999999999999999", "- - - - - - - - - - -", "a: b: c", "{a: 1, a: 2}", "agent_id: ", "version: ",
        "metadata:\n  name: ", "limits: {memory_mb: ", "  ", "\n", "\n\n", "key:\n  - item\n  - other\n",
        String(repeating: "[", count: 40), String(repeating: "{a: ", count: 40), String(repeating: "- ", count: 40) + "x",
        String(repeating: "]", count: 40), "../../etc", "/", "{instructions}", "<script>", "sk-ant-" + String(repeating: "x", count: 30),
    ]

    static let keys = ["agent_id", "version", "type", "metadata", "name", "description", "nickname", "instructions",
                       "command", "limits", "memory_mb", "timeout_seconds", "file_access", "read_paths", "write_paths",
                       "network_access", "env", "profile", "applies_to", "permissions", "tiers", "lightweight", "runtime",
                       "capabilities", "incidents", "agent_type", "tools", "resource_tier", "cpu_limit", "memory_limit",
                       "allow", "set", "secrets", "x", "", "a b", "é"]

    // MARK: mutation

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64, donors: [Seed]) -> [UInt8] {
        var b = input
        for _ in 0...rng.below(4) {
            let at = rng.below(b.count + 1)
            switch rng.below(12) {
            case 0 where !b.isEmpty:  // flip a bit
                let i = rng.below(b.count)
                b[i] ^= UInt8(1 << rng.below(8))
            case 1:  // insert a random byte
                b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
            case 2 where !b.isEmpty:  // delete a range
                let n = min(b.count - min(at, b.count - 1), 1 + rng.below(16))
                let start = min(at, b.count - 1)
                b.removeSubrange(start..<(start + n))
            case 3, 4:  // insert a fragment
                b.insert(contentsOf: Array(rng.pick(fragments).utf8), at: at)
            case 5:  // splice a line from another document
                let donor = rng.pick(donors).bytes
                let lines = donor.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                let line = Array(rng.pick(lines)) + [UInt8(ascii: "\n")]
                b.insert(contentsOf: line, at: lineStart(b, at))
            case 6:  // duplicate a line (duplicate keys)
                var lines = b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
                if !lines.isEmpty {
                    let i = rng.below(lines.count)
                    lines.insert(lines[i], at: rng.below(lines.count + 1))
                    b = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
                }
            case 7:  // swap two lines
                var lines = b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
                if lines.count > 1 {
                    lines.swapAt(rng.below(lines.count), rng.below(lines.count))
                    b = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
                }
            case 8:  // truncate
                b.removeSubrange(min(at, b.count)...)
            case 9:  // deep nesting, balanced or not
                let depth = 1 + rng.below(80)
                let open = rng.chance(50) ? "[" : "{k: "
                let close = open == "[" ? "]" : "}"
                var s = String(repeating: open, count: depth)
                if rng.chance(70) { s += "x" + String(repeating: close, count: depth) }
                b.insert(contentsOf: Array(s.utf8), at: at)
            case 10:  // re-indent a line
                b.insert(contentsOf: Array(String(repeating: " ", count: 1 + rng.below(6)).utf8), at: lineStart(b, at))
            default:  // invalid UTF-8 or a NUL
                b.insert(contentsOf: rng.pick([[0x00], [0xFF], [0xC0, 0xAF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]), at: at)
            }
        }
        return b
    }

    static func lineStart(_ b: [UInt8], _ at: Int) -> Int {
        var i = min(at, b.count)
        while i > 0 && b[i - 1] != UInt8(ascii: "\n") { i -= 1 }
        return i
    }

    // MARK: random documents

    static func randomScalar(_ rng: inout SplitMix64) -> String {
        switch rng.below(8) {
        case 0: return String(rng.below(100_000))
        case 1: return rng.pick(["true", "false", "yes", "~", "null", "", "1.0.0", "-1", "0.5"])
        case 2: return "\"" + rng.pick(["quoted", "a\\nb", "\\t", "é", "\\u263A", ""]) + "\""
        case 3: return "'" + rng.pick(["single", "it''s", ""]) + "'"
        case 4: return rng.pick(keys)
        case 5: return rng.pick(fragments).replacingOccurrences(of: "\n", with: " ")
        default:
            let letters = Array("abcdefghijklmnopqrstuvwxyz_-./ ")
            return String((0..<(1 + rng.below(12))).map { _ in rng.pick(letters) })
        }
    }

    static func randomFlow(_ rng: inout SplitMix64, depth: Int) -> String {
        if depth <= 0 || rng.chance(40) { return randomScalar(&rng) }
        let n = rng.below(4)
        if rng.chance(50) {
            return "[" + (0..<n).map { _ in randomFlow(&rng, depth: depth - 1) }.joined(separator: ", ") + "]"
        }
        return "{" + (0..<n).map { _ in rng.pick(keys) + ": " + randomFlow(&rng, depth: depth - 1) }.joined(separator: ", ") + "}"
    }

    static func randomBlock(_ rng: inout SplitMix64, indent: Int, depth: Int) -> String {
        var out = ""
        let pad = String(repeating: " ", count: indent)
        for _ in 0..<(1 + rng.below(5)) {
            let key = rng.pick(keys)
            switch rng.below(4) {
            case 0 where depth > 0:
                out += pad + key + ":\n" + randomBlock(&rng, indent: indent + 2, depth: depth - 1)
            case 1 where depth > 0:
                out += pad + key + ":\n"
                for _ in 0..<(1 + rng.below(3)) { out += pad + "  - " + randomFlow(&rng, depth: 2) + "\n" }
            case 2:
                out += pad + key + ": |\n" + pad + "  " + randomScalar(&rng) + "\n"
            default:
                out += pad + key + ": " + randomFlow(&rng, depth: depth) + "\n"
            }
        }
        return out
    }

    static func randomDocument(_ rng: inout SplitMix64) -> [UInt8] {
        switch rng.below(6) {
        case 0:  // random bytes
            return (0..<rng.below(512)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 1:  // random printable ASCII and line breaks
            return (0..<rng.below(512)).map { _ in rng.chance(8) ? 0x0A : UInt8(0x20 + rng.below(95)) }
        case 2:  // billion laughs, anchors first or aliases first
            var s = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            for i in 1..<(2 + rng.below(12)) {
                s += "k\(i): &k\(i) [" + Array(repeating: i == 1 ? "*a" : "*k\(i - 1)", count: 9).joined(separator: ", ") + "]\n"
            }
            return Array((rng.chance(50) ? s : s.replacingOccurrences(of: "&", with: "")).utf8)
        case 3:  // very deep nesting
            let depth = 20 + rng.below(2000)
            return Array((String(repeating: rng.chance(50) ? "[" : "- ", count: depth) + "x").utf8)
        case 4:
            return Array(randomFlow(&rng, depth: 6).utf8)
        default:
            return Array(randomBlock(&rng, indent: 0, depth: 1 + rng.below(6)).utf8)
        }
    }

    // MARK: the checks

    /// Every diagnostic must be one line naming the file, with a sane location.
    static func expectClean(_ d: Diagnostic, file: String, lines: Int, context: String) {
        let text = d.description
        #expect(!text.contains("\n") && !text.contains("\r"), "\(context): \(text)")
        #expect(text.hasPrefix(file + ":"), "\(context): \(text)")
        #expect(!d.message.isEmpty, "\(context): \(text)")
        if let line = d.line {
            #expect(line >= 1 && line <= lines + 1, "\(context): line \(line) of \(lines): \(text)")
        }
        if let column = d.column { #expect(column >= 1, "\(context): \(text)") }
    }

    static func exercise(_ bytes: [UInt8], name: String, profiles: ProfileSet, context: String) {
        // libyaml also breaks lines at a lone CR, NEL, LS and PS (YAML 1.1); count them all
        // for an upper bound on the lines a diagnostic may name.
        let breaks: Set<Unicode.Scalar> = ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"]
        let lines = 1 + String(decoding: bytes, as: UTF8.self).unicodeScalars.filter { breaks.contains($0) }.count
        do {
            let root = try StrictYAML.load(bytes[...], file: name)
            _ = root.kindName
        } catch {
            expectClean(error, file: name, lines: lines, context: context + " (load)")
        }
        let source = SourceFile(displayName: name, bytes: bytes)
        if name.hasPrefix("profiles/") {
            let r = ProfileParser.parse(source)
            for d in r.diagnostics { expectClean(d, file: name, lines: lines, context: context + " (profile)") }
            #expect(r.profile == nil || !r.diagnostics.contains(where: \.isError), "\(context): a profile with errors was built")
        } else {
            let r = AgentParser.parse(source)
            for d in r.diagnostics { expectClean(d, file: name, lines: lines, context: context + " (agent)") }
            #expect(r.definition == nil || !r.diagnostics.contains(where: \.isError), "\(context): an agent with errors was built")
            if let def = r.definition {
                switch PolicyResolver.resolve(def, profiles: profiles, projectRoot: "/nonexistent/project") {
                case .success(let policy):
                    for w in policy.warnings { #expect(!w.description.contains("\n"), "\(context): \(w)") }
                    _ = policy.renderText()
                    _ = JSONOutput.encode(policy)
                case .failure(let refusal):
                    #expect(!refusal.errors.isEmpty, "\(context): a refusal without a reason")
                    for d in refusal.errors { #expect(!d.description.contains("\n"), "\(context): \(d)") }
                }
            }
        }
        for d in CheckReport.scan(source) { expectClean(d, file: name, lines: lines, context: context + " (scan)") }
    }

    @Test func mutatedAndRandomDocumentsFailCleanly() throws {
        let seeds = try Self.seeds()
        let profiles = ProfileSet(results: seeds.filter(\.isProfile).map { ($0.name, ProfileParser.parse(SourceFile(displayName: $0.name, bytes: $0.bytes))) })
        #expect(!profiles.profiles.isEmpty)
        var rng = SplitMix64(seed: 0x6D70_6D2D_7275_6E21)
        let clock = ContinuousClock()
        let start = clock.now
        var slowest: (Duration, String) = (.zero, "")
        let iterations = 5000
        for i in 0..<iterations {
            let name: String
            let bytes: [UInt8]
            if i % 4 == 3 {
                // A random document, as each format.
                var doc = Self.randomDocument(&rng)
                switch rng.below(4) {
                case 0: name = "agents/random-\(i).md"; doc = Array("---\n".utf8) + doc + Array("\n---\nDo something useful here.\n".utf8)
                case 1: name = "agents/random-\(i).json"
                case 2: name = "profiles/random-\(i).yaml"
                default: name = "agents/random-\(i).yaml"
                }
                bytes = doc
            } else {
                let seed = rng.pick(seeds)
                name = seed.name
                bytes = Self.mutate(seed.bytes, &rng, donors: seeds)
            }
            let t0 = clock.now
            Self.exercise(bytes, name: name, profiles: profiles, context: "iteration \(i) (\(name))")
            let took = clock.now - t0
            if took > slowest.0 { slowest = (took, "iteration \(i) (\(name), \(bytes.count) bytes)") }
        }
        // No document may take long: a hang or an expansion would show here.
        #expect(slowest.0 < .seconds(1), "slowest: \(slowest.1) took \(slowest.0)")
        #expect(clock.now - start < .seconds(60), "\(iterations) documents took \(clock.now - start)")
    }

    @Test func oversizedAndPathologicalDocumentsFailFast() throws {
        let clock = ContinuousClock()
        let cases: [(String, [UInt8], String)] = [
            ("big.yaml", Array(repeating: UInt8(ascii: "a"), count: SourceFile.maxBytes + 1), "big.yaml: file is larger than 1 MiB"),
            ("deep.yaml", Array((String(repeating: "[", count: 100_000)).utf8), "deep.yaml:1:33: nesting deeper than 32 levels"),
            ("dash.yaml", Array((String(repeating: "- ", count: 100_000) + "x").utf8), "dash.yaml:1:65: nesting deeper than 32 levels"),
            ("keys.yaml", Array((0..<20_000).map { "k\($0): v\n" }.joined().utf8) + Array("k0: again\n".utf8),
             "keys.yaml:20001:1: duplicate key 'k0'"),
            ("anchors.yaml", Array(("a: &a " + String(repeating: "x", count: 500_000) + "\n").utf8), "anchors.yaml:1:4: anchors are not allowed"),
            ("laughs.yaml", Array(Self.billionLaughs.utf8), "laughs.yaml:1:4: anchors are not allowed"),
            ("list.yaml", Array(("[" + Array(repeating: "1", count: 100_000).joined(separator: ",") + "]").utf8),
             "list.yaml:1:1: document: must be a mapping, not a list"),
        ]
        for (name, bytes, expected) in cases {
            let t0 = clock.now
            do {
                let root = try StrictYAML.load(bytes[...], file: name)
                // A document that loads goes on to the schema, which refuses it.
                let r = AgentParser.parse(SourceFile(displayName: name, bytes: bytes))
                #expect(r.diagnostics.map(\.description) == [expected], "\(root.kindName)")
            } catch {
                #expect(error.description == expected)
            }
            // Linear work is well under a second each; a quadratic reader took minutes. The bound
            // leaves room for a loaded machine running other tests beside this one.
            #expect(clock.now - t0 < .seconds(10), "\(name) took \(clock.now - t0)")
        }
    }

    static let billionLaughs: String = {
        var s = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...20 {
            s += "k\(i): &k\(i) [" + Array(repeating: i == 1 ? "*a" : "*k\(i - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        return s
    }()

    @Test func billionLaughsIsRefusedInMilliseconds() throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        #expect(throws: Diagnostic.self) { try StrictYAML.load(Array(Self.billionLaughs.utf8)[...], file: "x.yaml") }
        #expect(clock.now - t0 < .milliseconds(50), "took \(clock.now - t0)")
    }

    @Test func theGeneratorIsDeterministic() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
        var c = SplitMix64(seed: 0)
        // The reference SplitMix64 sequence for seed 0 starts here.
        #expect(c.next() == 0xE220_A839_7B1D_CDAF)
    }
}
