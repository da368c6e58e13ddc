import Testing

@testable import MPMRun

/// The launch path copies a cached compile and writes the launcher's execve pointers over
/// sentinels. That is only sound if the result is, byte for byte, what libseccomp compiles
/// for those pointers itself: checked here for every policy and many pointers.
@Suite struct SeccompTemplateTests {
    static var policies: [(Set<Permission>, Bool)] {
        var out: [(Set<Permission>, Bool)] = []
        let all = Permission.allCases
        for mask in 0..<(1 << all.count) {
            let set = Set(all.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
            out.append((set, true))
            out.append((set, false))
        }
        return out
    }

    @Test func aPatchedTemplateIsWhatLibseccompCompilesForThosePointers() throws {
        var random = SeededRandom(seed: 0x5EC_C0AB)
        for (permissions, notify) in Self.policies {
            var pointers: [SeccompFilter.OwnExec] = [
                .init(path: 0x0000_5555_5555_1000, argv: 0x0000_5555_5555_2000, envp: 0x0000_7FFF_F7FF_0010),
                .init(path: 0x1, argv: 0x2, envp: 0x3),
                .init(path: 0x0000_7FFF_0000_0000, argv: 0x0000_7FFF_0000_0000, envp: 0x0000_7FFF_0000_0000),
            ]
            for _ in 0..<6 {
                func pointer() -> UInt { UInt(random.next() & 0x0000_7FFF_FFFF_FFF8) }
                pointers.append(.init(path: pointer(), argv: pointer(), envp: pointer()))
            }
            for own in pointers {
                let cached = try SeccompFilter.forLaunch(permissions: permissions, ownExec: own, notify: notify)
                let fresh = try SeccompFilter(permissions: permissions, ownExec: own, notify: notify)
                let same = cached.program == fresh.program
                #expect(same, "permissions \(permissions.sorted()), notify \(notify), pointers \(own)")
            }
            let template = try #require(try SeccompFilter.template(permissions: permissions, notify: notify),
                                        "every policy's compile is cacheable with libseccomp here")
            // Without execute_commands each half of each pointer has its place; with it there are none.
            #expect(template.slots.isEmpty == permissions.contains(.executeCommands))
        }
    }

    @Test func aProgramWithoutTheSentinelsWhereTheyBelongIsNotCached() throws {
        let program = try SeccompFilter(permissions: [.readFiles], ownExec: SeccompFilter.sentinels, notify: true).program
        #expect(SeccompFilter.sentinelSlots(program) != nil)
        // One half missing (every place of the path's high half overwritten): refused.
        var missing = program
        let slots = try #require(SeccompFilter.sentinelSlots(program))
        missing.withUnsafeMutableBytes { raw in
            for slot in slots where slot.half == 0 { raw.storeBytes(of: UInt32(0), toByteOffset: slot.offset, as: UInt32.self) }
        }
        #expect(SeccompFilter.sentinelSlots(missing) == nil)
        // A sentinel in an instruction that is not a jeq: refused.
        var misplaced = program
        misplaced.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt16(0x20), toByteOffset: 8, as: UInt16.self)  // ld [k]
            raw.storeBytes(of: SeccompFilter.sentinelHalves[0], toByteOffset: 12, as: UInt32.self)
        }
        #expect(SeccompFilter.sentinelSlots(misplaced) == nil)
    }
}
