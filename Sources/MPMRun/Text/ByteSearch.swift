import CLauncher

extension String {
    /// Whether `needle`'s UTF-8 bytes occur in this string's (memmem). The standard library's
    /// `contains(_:)` compares Characters through generic collection code: about 0.4 ms of
    /// each launch went to it (the agent's dangerous-pattern scan, the audit record's
    /// sensitive-key check). Matching bytes, not Characters, also finds a needle whose last
    /// character is followed by a combining mark, which only makes these checks stricter.
    func containsBytes(_ needle: String) -> Bool {
        var hay = self, needle = needle
        return hay.withUTF8 { h in
            needle.withUTF8 { n in
                guard n.count > 0 else { return false }  // as the standard library answers
                guard let hb = h.baseAddress, let nb = n.baseAddress, h.count >= n.count else { return false }
                return mpm_memmem(hb, h.count, nb, n.count) != nil
            }
        }
    }
}
