import Glibc

extension String {
    /// Whether `needle`'s UTF-8 bytes occur in this string's (memchr for the first byte, then
    /// memcmp). The standard library's `contains(_:)` compares Characters through generic
    /// collection code: about 0.4 ms of each launch went to it (the agent's dangerous-pattern
    /// scan, the audit record's sensitive-key check). Matching bytes, not Characters, also
    /// finds a needle whose last character is followed by a combining mark, which only makes
    /// these checks stricter.
    func containsBytes(_ needle: String) -> Bool {
        var hay = self, needle = needle
        return hay.withUTF8 { h in
            needle.withUTF8 { n in
                // An empty needle is not contained, as the standard library answers.
                guard let first = n.first, let hb = h.baseAddress, let nb = n.baseAddress, h.count >= n.count else {
                    return false
                }
                let lastStart = h.count - n.count
                var i = 0
                while i <= lastStart {
                    guard let hit = memchr(hb + i, Int32(first), lastStart - i + 1) else { return false }
                    let at = UnsafeRawPointer(hb).distance(to: UnsafeRawPointer(hit))
                    if memcmp(hb + at, nb, n.count) == 0 { return true }
                    i = at + 1
                }
                return false
            }
        }
    }
}
