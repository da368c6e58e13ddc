import CCap

/// Which capabilities a run keeps: none, unless the profile has system_config and lists some.
enum Capabilities {
    /// The highest capability number this kernel knows (libcap reads it from the kernel).
    static var lastCap: Int32 { Int32(cap_max_bits()) - 1 }

    /// A bit mask of the named capabilities (names as libcap spells them, e.g. cap_net_raw).
    static func mask(_ names: [String]) -> UInt64 {
        var mask: UInt64 = 0
        for name in names {
            var value = cap_value_t()
            if cap_from_name(name, &value) == 0, value >= 0, value < 64 { mask |= 1 << UInt64(value) }
        }
        return mask
    }
}
